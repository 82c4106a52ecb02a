"""CLI commands run in process: profile edits keep their types and can remove
fields, `end` honours --budget, and Sessions ends with the graph's own model."""

from __future__ import annotations

import asyncio
import json

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

import stores
from agent import build_graph, cli, memory
from agent.sessions import Sessions
from agent.tokens import counter_for


def profile(capsys, *args: str) -> dict:
    assert cli.main(["profile", "--customer", "C-5", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_profile_values_keep_their_type_and_fields_can_be_removed(capsys):
    edited = profile(capsys, "--set", "name=Ana Lima", "years=8", "vip=true", 'interests=["CDs"]',
                     "card=4242 4242 4242 4242")
    assert edited == {"name": "Ana Lima", "years": 8, "vip": True, "interests": ["CDs"],
                      "card": "[card ending 4242]"}
    assert profile(capsys, "--unset", "vip", "card") == {"name": "Ana Lima", "years": 8, "interests": ["CDs"]}
    assert profile(capsys) == {"name": "Ana Lima", "years": 8, "interests": ["CDs"]}, "kept in the store"


def test_end_writes_the_episode_within_its_budget(capsys, fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4")
    long = "I would like to understand every fee on my savings account in detail. " * 20
    assert cli.main(["chat", "--customer", "C-6", "--message", long, "--budget", "8000"]) == 0
    session = capsys.readouterr().out.split("--session ")[1].split(")")[0]
    assert cli.main(["end", "--customer", "C-6", "--session", session, "--budget", "1024"]) == 0
    episode_request = [r for r in fake_openai.requests if "## Task: write the episode record" in r["messages"][0]["content"]]
    assert len(episode_request) == 1
    assert counter_for("gpt-4").text(episode_request[0]["messages"][0]["content"]) <= 1024 // 2 + 100


async def test_sessions_end_with_the_graphs_own_model(model, fake_openai):
    sessions = Sessions(build_graph(model=model, checkpointer=InMemorySaver(), store=InMemoryStore()))
    reply = await sessions.send("C-7", "I am interested in CDs.")
    await sessions.end("C-7", reply.session_id)
    assert any("## Task: write the episode record" in r["messages"][0]["content"] for r in fake_openai.requests), \
        "the episode was written by the app's model, not the environment's"


def test_sessions_lists_episodes_other_systems_wrote_without_a_session_id(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BANK_AGENT_DATA_DIR", str(tmp_path))

    async def write() -> None:
        async with stores.aconnect(f"sqlite:///{tmp_path / 'store.db'}") as store:
            await store.aput(memory.episodes_namespace("C-8"), "crm-17",
                             {"started_at": "2024-02-01T10:00:00+00:00", "summary": "Branch visit about a loan."})

    asyncio.run(write())
    assert cli.main(["sessions", "--customer", "C-8"]) == 0
    assert capsys.readouterr().out.startswith("crm-17  2024-02-01T10:00  : Branch visit about a loan.")
