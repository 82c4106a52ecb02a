"""A 1,000-turn conversation on the embedded defaults with a canned model.

Measures the largest prompt against the budget, how many summarisation calls
ran, and per-turn time early (turns 1-20) against late (981-1000); draws prompt
tokens per turn with summarisation and what they would be without it.

    .venv/bin/python bench/bench_agent.py [--turns 1000] [--budget 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


import checkpointers
import stores
from agent import build_graph
from agent.tools import TOOL_SCHEMAS
from agent.offline_model import OfflineBankModel
from agent.sessions import Sessions
from agent.tokens import counter_for

WORDS = "account transfer savings card branch statement deposit interest payment loan".split()
RESULTS = Path(__file__).parent / "results"


class MeasuredModel(OfflineBankModel):
    """The canned model, noting the size of every prompt it is sent."""

    prompts: list = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        tools = TOOL_SCHEMAS if kwargs.get("tools") else ()
        self.prompts.append((messages[0].content[:40], counter_for(self.model_name).messages(messages, tools)))
        return super()._generate(messages, stop, run_manager, **kwargs)


async def run(turns: int, budget: int) -> dict:
    rng = random.Random(1)
    model = MeasuredModel()
    counter = counter_for(model.model_name)
    per_turn_ms, prompt_tokens, unsummarised = [], [], []
    history_tokens = 0
    with tempfile.TemporaryDirectory() as data:
        async with checkpointers.aconnect(f"sqlite:///{data}/c.db") as saver, stores.aconnect(f"sqlite:///{data}/s.db") as store:
            sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store))
            session = None
            for turn in range(turns):
                text = f"Question {turn}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 160)))
                if turn % 10 == 0:
                    text += f" I prefer statement style {turn % 30}."
                before = len(model.prompts)
                started = time.perf_counter()
                reply = await sessions.send("C-BENCH", text, session, token_budget=budget)
                per_turn_ms.append((time.perf_counter() - started) * 1000)
                session = reply.session_id
                calls = model.prompts[before:]
                answer_prompts = [tokens for kind, tokens in calls if not kind.startswith("## Task")]
                prompt_tokens.append(max(answer_prompts))
                # Without summarising, the prompt would carry every message so far.
                history_tokens += counter.text(text) + counter.text(reply.text) + 8
                unsummarised.append(answer_prompts[0] if turn == 0 else unsummarised[0] + history_tokens)
    summaries = sum(1 for kind, _ in model.prompts if "extend the conversation summary" in kind)
    early, late = statistics.mean(per_turn_ms[:20]), statistics.mean(per_turn_ms[-20:])
    return {
        "turns": turns, "budget": budget, "largest_prompt": max(t for _, t in model.prompts),
        "summaries": summaries, "early_ms": early, "late_ms": late, "late_over_early": late / early,
        "turns_per_s": turns / (sum(per_turn_ms) / 1000), "prompt_tokens": prompt_tokens, "unsummarised": unsummarised,
    }


def draw(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.2), dpi=110)
    turns = range(1, result["turns"] + 1)
    axes.plot(turns, result["unsummarised"], label="without summarisation", color="#c44e52")
    axes.plot(turns, result["prompt_tokens"], label="with summarisation (this agent)", color="#4c72b0")
    axes.axhline(result["budget"], linestyle="--", color="black", linewidth=1, label=f"token budget ({result['budget']})")
    axes.set_yscale("log")
    axes.set_xlabel("turn")
    axes.set_ylabel("prompt tokens (log scale)")
    axes.set_title(f"Prompt size over a {result['turns']}-turn conversation")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=4000)
    args = parser.parse_args()
    result = asyncio.run(run(args.turns, args.budget))
    RESULTS.mkdir(exist_ok=True)
    draw(result, RESULTS / "prompt_tokens.png")
    print(f"turns                      {result['turns']}")
    print(f"largest prompt / budget    {result['largest_prompt']} / {result['budget']} "
          f"({result['largest_prompt'] / result['budget']:.2f}x)")
    print(f"summarisation calls        {result['summaries']}")
    print(f"per-turn ms, turns 1-20    {result['early_ms']:.1f}")
    print(f"per-turn ms, last 20       {result['late_ms']:.1f}  (late/early {result['late_over_early']:.2f}x, goal <= 1.5x)")
    print(f"turns/s                    {result['turns_per_s']:.1f}")
    print(f"without summarisation the last prompt would be {result['unsummarised'][-1]:,} tokens "
          f"({result['unsummarised'][-1] / result['budget']:.0f}x the budget)")
    print(f"plot                       {RESULTS / 'prompt_tokens.png'}")


if __name__ == "__main__":
    main()
