"""Masking of card numbers, IBANs, SSNs, account numbers and secrets (agent.privacy),
and retention of facts and episodes (MEMORY_RETENTION_DAYS)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.store.memory import InMemoryStore

import checkpointers
import stores
from agent import build_graph, memory, persistence, settings
from agent.context import Context
from agent.errors import SettingsError
from agent.offline_model import OfflineBankModel
from agent.privacy import NOTICE, add_masked_messages, mask, mask_persisted
from agent.sessions import Sessions
from tests.support.raw_backends import sqlite_contents

CORPUS = Path(__file__).parent.parent / "support" / "data" / "banking_messages.txt"
CARDS = ["4242 4242 4242 4242", "4111-1111-1111-1111", "4242424242424242", "4111111111111111"]
# A PIN is looked for with its label: four digits alone turn up in random checkpoint versions.
SECRETS = [*CARDS, "PIN 9931", "123-45-6789", "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"]
SENSITIVE = (
    "My card 4242 4242 4242 4242 and PIN 9931; the old one was 4111-1111-1111-1111. "
    "SSN 123-45-6789, IBAN GB82 WEST 1234 5698 7654 32. I prefer branch visits, marker okapi-lantern."
)


def corpus() -> list[str]:
    return [line.rstrip("\n") for line in CORPUS.open() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("text, masked", [
    ("my card 4242 4242 4242 4242 please", "my card [card ending 4242] please"),
    ("card 4111-1111-1111-1111 and 5 more", "card [card ending 1111] and 5 more"),
    ("Amex 3782 822463 10005.", "Amex [card ending 0005]."),
    ("4000056655665556", "[card ending 5556]"),
    ("my PIN is 9931", "my PIN is [masked]"),
    ("PIN: 9931 and CVV 123", "PIN: [masked] and CVV [masked]"),
    ("the one-time code is 483 920", "the one-time code is [masked]"),
    ("OTP 551203", "OTP [masked]"),
    ("my password is Summer2024!", "my password is [masked]"),
    ("passcode = tulip", "passcode = [masked]"),
    ("SSN 123-45-6789", "SSN [SSN masked]"),
    ("my social security number is 123456789", "my social security number is [SSN masked]"),
    ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "IBAN [IBAN ending 5432] thanks"),
    ("de89370400440532013000", "[IBAN ending 3000]"),
    ("account number 12345678", "account number [ending 5678]"),
    ("routing number: 021000021", "routing number: [ending 0021]"),
])
def test_each_kind_of_sensitive_data_is_masked(text, masked):
    assert mask(text) == masked
    assert mask(masked) == masked, "masking is idempotent"


@pytest.mark.parametrize("text", [
    "4242 4242 4242 4241",  # fails the Luhn check
    "GB82 WEST 1234 5698 7654 33",  # fails mod-97
    "I forgot my password and my PIN",
    "my password is wrong",
    "000-12-3456",  # no SSN starts with 000
])
def test_numbers_that_fail_their_checks_and_words_about_secrets_are_kept(text):
    assert mask(text) == text


def test_no_ordinary_banking_message_is_altered():
    """Dates, amounts, phone numbers and references are not card numbers:
    false positives on the corpus must stay at zero."""
    messages = corpus()
    assert len(messages) >= 100
    altered = [(m, mask(m)) for m in messages if mask(m) != m]
    assert altered == []


def test_the_reducer_masks_message_text_and_tool_call_arguments():
    call = {"name": "remember_fact", "args": {"fact": "card 4242 4242 4242 4242"}, "id": "c1"}
    merged = add_masked_messages([], [HumanMessage(SENSITIVE), AIMessage("", tool_calls=[call])])
    dumped = json.dumps([m.model_dump() for m in merged])
    assert not [s for s in SECRETS if s in dumped]
    assert merged[1].tool_calls[0]["args"]["fact"] == "card [card ending 4242]"


def test_log_records_are_masked_once_the_agent_is_built(caplog):
    build_graph(model=OfflineBankModel())
    with caplog.at_level(logging.INFO):
        logging.getLogger("bank").info("customer said %s", "card 4242424242424242 PIN 9931")
    assert caplog.messages == ["customer said card [card ending 4242] PIN [masked]"]


async def test_a_turn_keeps_nothing_in_clear_in_checkpoints_store_or_prompts(tmp_path, fake_openai, model):
    async with checkpointers.aconnect(f"sqlite:///{tmp_path / 'c.db'}") as saver, \
            stores.aconnect(f"sqlite:///{tmp_path / 's.db'}") as store:
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store))
        first = await sessions.send("C-1", SENSITIVE)
        second = await sessions.send("C-1", "My PIN is 4410, what now?", first.session_id)
        await sessions.end("C-1", first.session_id)
    persisted = sqlite_contents(tmp_path / "c.db") + sqlite_contents(tmp_path / "s.db")
    sent = json.dumps(fake_openai.requests)
    for secret in [*SECRETS, "PIN is 4410"]:
        assert secret not in persisted and secret not in sent, secret
    assert "[card ending 4242]" in persisted and "[card ending 4242]" in sent
    assert "[IBAN ending 5432]" in sent and "[SSN masked]" in sent
    assert NOTICE in first.text and NOTICE not in second.text, "the customer is told once"
    facts = [line for line in persisted.splitlines() if "okapi-lantern" in line]
    assert facts and all("[card ending" in line or "branch visits" in line for line in facts)


async def test_retention_sets_a_ttl_on_facts_and_episodes_not_the_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMORY_RETENTION_DAYS", "30")
    writes = [memory.profile_put("C-1", {"name": "Ana"}), memory.fact_put("C-1", "preference", "email", "s-1"),
              memory.episode_put("C-1", {"session_id": "s-1", "summary": "Asked about cards."})]
    async with stores.aconnect(f"sqlite:///{tmp_path / 's.db'}", ttl={"refresh_on_read": False}) as store:
        assert await memory.awrite(store, writes, []) == []
    with sqlite3.connect(tmp_path / "s.db") as db:
        ttl = dict(db.execute("SELECT prefix, ttl_minutes FROM store"))
    assert ttl == {"customers.C-1.profile": None, "customers.C-1.facts": 30 * 24 * 60,
                   "customers.C-1.episodes": 30 * 24 * 60}


def test_retention_unset_keeps_memory_and_a_bad_value_is_refused(monkeypatch):
    monkeypatch.delenv("MEMORY_RETENTION_DAYS", raising=False)
    assert memory.fact_put("C-1", "preference", "email", "s-1").ttl is None
    monkeypatch.setenv("MEMORY_RETENTION_DAYS", "forever")
    with pytest.raises(SettingsError, match="MEMORY_RETENTION_DAYS must be a number"):
        settings.retention_minutes()


async def test_langgraph_devs_checkpointer_masks_what_it_stores(tmp_path, monkeypatch, model):
    """`langgraph dev` compiles the module's graph without a saver and attaches
    the one `agent.persistence.checkpointer()` opens."""
    monkeypatch.setenv("CHECKPOINTER_URL", f"sqlite:///{tmp_path / 'c.db'}")
    async with persistence.checkpointer() as saver:
        graph = build_graph(model=model, store=InMemoryStore()).copy(update={"checkpointer": saver})
        await graph.ainvoke({"messages": [HumanMessage(SENSITIVE)]}, {"configurable": {"thread_id": "t-1"}},
                            context=Context(customer_id="C-1"))
    persisted = sqlite_contents(tmp_path / "c.db")
    assert "[card ending 4242]" in persisted
    assert not [secret for secret in SECRETS if secret in persisted]


async def test_the_masking_saver_is_the_same_saver_of_the_same_kind_and_leaves_the_callers_alone(tmp_path, model):
    async with checkpointers.aconnect(f"sqlite:///{tmp_path / 'c.db'}") as saver:
        kind = type(saver)
        masked = mask_persisted(saver)
        assert isinstance(masked, kind) and mask_persisted(masked) is masked, "same kind, masked once"
        assert type(saver) is kind and "put" not in vars(saver), "the caller's saver is not changed"
        graph = build_graph(model=model, checkpointer=saver, store=InMemoryStore())
        config = {"configurable": {"thread_id": "t-2"}}
        await graph.ainvoke({"messages": [HumanMessage(SENSITIVE)]}, config, context=Context(customer_id="C-1"))
        assert (await saver.aget_tuple(config)) is not None, "the caller's saver sees what the graph saved"
    persisted = sqlite_contents(tmp_path / "c.db")
    assert "[card ending 4242]" in persisted and not [secret for secret in SECRETS if secret in persisted]
