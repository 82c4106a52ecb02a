"""Which of a customer's memories a turn needs.

A customer's current facts and episodes are ranked against the customer's
words three ways, and the rankings are fused by reciprocal rank (RRF):

- lexical: Okapi BM25 over stemmed words (a bank customer's "mortgage",
  "IBAN" or "Lisbon" is usually the exact word that finds the old session,
  and "painted" finds "paint");
- semantic: static word embeddings from ``wordllama`` (the 256-dimension
  weights and tokenizer ship inside its wheel: no cloud, no download), so
  "home loan" still finds "mortgage";
- recency, weighted lower: a signal, not the order.

BM25 is written here rather than taken from ``rank-bm25``/``bm25s`` because the
index is updated one item at a time as memory changes (those libraries
re-index the whole corpus), and it is twenty lines.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Hashable, Sequence

import numpy as np
import Stemmer

BM25_K1, BM25_B = 1.2, 0.75
RRF_K = 60
WEIGHTS = {"lexical": 1.0, "semantic": 1.0, "recency": 0.35}
CANDIDATES = 300  # per ranking; fused ranks below this add almost nothing
WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a about after again all also am an and any are as at be been before being but by can could did do does "
    "for from had has have he her here him his how i i'm if in into is it its just me more my no not now of "
    "on or our out please she so some than that the their them then there these they this those to too up us "
    "was we were what when where which while who why will with would you your yes hi hello thanks thank".split()
)


def terms(text: str) -> list[str]:
    """The words BM25 compares: lower case, no stop words, stemmed (Snowball's
    English stemmer, from PyStemmer), so "painted" finds "paint" and "studies" "study"."""
    return [stem(word) for word in WORD.findall(text.lower()) if word not in STOPWORDS]


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    if not hasattr(_stemmers, "english"):  # a stemmer keeps state while it works: one per thread
        _stemmers.english = Stemmer.Stemmer("english")
    return _stemmers.english.stemWord(word)


_stemmers = threading.local()


@lru_cache(maxsize=1)
def _wordllama():
    from wordllama import WordLlama, wordllama as package

    # The loader looks for the bundled tokenizer under <cache_dir>/tokenizers/
    # and would otherwise download it: point it at a copy of the bundled file.
    bundled = Path(package.__file__).parent / "tokenizers" / "l2_supercat_tokenizer_config.json"
    cache = Path(tempfile.gettempdir()) / "bank-agent-wordllama"
    (cache / "tokenizers").mkdir(parents=True, exist_ok=True)
    target = cache / "tokenizers" / bundled.name
    if not target.exists():
        shutil.copyfile(bundled, target)
    return WordLlama.load(cache_dir=cache, disable_download=True)


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length 256-dimension vectors of ``texts`` (offline)."""
    if not texts:
        return np.zeros((0, 256), dtype=np.float32)
    vectors = np.asarray(_wordllama().embed(texts), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


@dataclass
class Memo:
    """One recallable memory: a fact or an episode, as the prompt shows it."""

    kind: str  # "fact" | "episode"
    key: str
    value: dict[str, Any]
    text: str
    when: str  # ISO time the fact was learned / the session started
    version: Any = None  # the store's updated_at, to notice changes
    shown: str = ""  # the prompt's rendering, cached with the memo across turns


def _epoch(stamp: str) -> float:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def fuse(rankings: dict[str, Sequence[Hashable]], weights: dict[str, float]) -> list[Hashable]:
    """Reciprocal rank fusion: every entry of the named ``rankings`` (each
    best first), best first by the sum of ``weight / (RRF_K + rank)``."""
    fused: dict[Hashable, float] = {}
    for name, order in rankings.items():
        for rank, entry in enumerate(order):
            fused[entry] = fused.get(entry, 0.0) + weights[name] / (RRF_K + rank + 1)
    return sorted(fused, key=lambda entry: -fused[entry])


def _top(scores: np.ndarray, alive: np.ndarray, count: int) -> np.ndarray:
    scores = np.where(alive, scores, -np.inf)
    count = min(count, int(alive.sum()))
    if count == 0:
        return np.zeros(0, dtype=int)
    best = np.argpartition(-scores, count - 1)[:count]
    return best[np.argsort(-scores[best], kind="stable")]


@dataclass
class RecallIndex:
    """One customer's memos with their BM25 statistics and embeddings,
    updated one memo at a time."""

    memos: list[Memo | None] = field(default_factory=list)
    slots: dict[tuple[str, str], int] = field(default_factory=dict)
    postings: dict[str, dict[int, int]] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 256), dtype=np.float32))
    stamps: list[float] = field(default_factory=list)
    _cached_arrays: tuple | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.slots)

    def get(self, kind: str, key: str) -> Memo | None:
        slot = self.slots.get((kind, key))
        return None if slot is None else self.memos[slot]

    def current(self, kind: str) -> list[Memo]:
        """Every memo of ``kind``, newest first."""
        found = [m for m in self.memos if m is not None and m.kind == kind]
        return sorted(found, key=lambda m: m.when, reverse=True)

    def remove(self, kind: str, key: str) -> None:
        slot = self.slots.pop((kind, key), None)
        if slot is None:
            return
        for word in set(terms(self.memos[slot].text)):
            self.postings[word].pop(slot, None)
        self.memos[slot], self.lengths[slot], self.stamps[slot] = None, 0, 0.0
        self._cached_arrays = None

    def upsert(self, memos: list[Memo]) -> None:
        """Add or replace memos (same kind and key), embedding them in one batch."""
        if not memos:
            return
        for memo in memos:
            self.remove(memo.kind, memo.key)
        self._add(memos)
        self.vectors = np.concatenate([self.vectors, embed([m.text for m in memos])])
        if len(self.memos) > 2 * len(self.slots) + 64:
            self._compact()

    def _add(self, memos: list[Memo]) -> None:
        self._cached_arrays = None
        start = len(self.memos)
        for offset, memo in enumerate(memos):
            slot = start + offset
            words = terms(memo.text)
            for word, count in Counter(words).items():
                self.postings.setdefault(word, {})[slot] = count
            self.memos.append(memo)
            self.lengths.append(len(words))
            self.stamps.append(_epoch(memo.when))
            self.slots[(memo.kind, memo.key)] = slot

    def _compact(self) -> None:
        keep = [slot for slot, memo in enumerate(self.memos) if memo is not None]
        live, vectors = [self.memos[slot] for slot in keep], self.vectors[keep]
        self.memos, self.slots, self.postings, self.lengths, self.stamps = [], {}, {}, [], []
        self._add(live)
        self.vectors = vectors

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._cached_arrays is None:
            self._cached_arrays = (np.array([m is not None for m in self.memos]),
                                   np.array(self.stamps), np.array(self.lengths, dtype=float))
        return self._cached_arrays

    def rank(self, query: str, weights: dict[str, float] = WEIGHTS) -> list[Memo]:
        """The memos best for ``query``, best first (at most about
        ``3 * CANDIDATES``), by the rankings named in ``weights`` (``lexical``,
        ``semantic``, ``recency``) fused with those weights."""
        size = len(self.memos)
        if not self.slots:
            return []
        alive, stamps, _ = self._arrays()
        rankings = {}
        if weights.get("recency"):
            rankings["recency"] = _top(stamps, alive, CANDIDATES)
        if weights.get("lexical"):
            lexical = self._bm25(query, size)
            rankings["lexical"] = _top(lexical, alive & (lexical > 0), CANDIDATES)
        if weights.get("semantic"):
            # einsum, not @: BLAS spreads one small product over threads, which
            # costs ten times more than it saves on a busy server's few cores.
            similarity = np.einsum("ij,j->i", self.vectors, embed([query])[0])
            rankings["semantic"] = _top(similarity, alive, CANDIDATES)
        best = fuse({name: order.tolist() for name, order in rankings.items()}, weights)
        return [self.memos[slot] for slot in best]

    def _bm25(self, query: str, size: int) -> np.ndarray:
        scores = np.zeros(size)
        count = len(self.slots)
        lengths = self._arrays()[2]
        average = max(lengths.sum() / max(count, 1), 1.0)
        for word in set(terms(query)):
            posting = self.postings.get(word)
            if not posting:
                continue
            idf = math.log(1 + (count - len(posting) + 0.5) / (len(posting) + 0.5))
            slots = np.fromiter(posting.keys(), dtype=int, count=len(posting))
            tf = np.fromiter(posting.values(), dtype=float, count=len(posting))
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[slots] / average)
            scores[slots] += idf * tf * (BM25_K1 + 1) / (tf + norm)
        return scores
