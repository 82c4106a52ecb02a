"""`bank-agent` as a user runs it: separate processes sharing only the SQLite files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.support.fixtures_e2e import session_of
from backends.devservers import ROOT


@pytest.fixture
def bank_agent(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "CHECKPOINTER_", "STORE_"))}
    env["BANK_AGENT_DATA_DIR"] = str(tmp_path / "data")

    def run(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
        raw = stdin.encode() if isinstance(stdin, str) else stdin
        done = subprocess.run([sys.executable, "-m", "agent.cli", *args], input=raw, capture_output=True,
                              env=env, cwd=ROOT, timeout=120)
        done.stdout, done.stderr = done.stdout.decode(), done.stderr.decode()
        return done

    run.data = tmp_path / "data"
    return run


def test_a_second_process_resumes_the_session_from_the_sqlite_files(bank_agent):
    set_profile = bank_agent("profile", "--customer", "C-42", "--set", "name=Ana Lima", "tier=Silver")
    assert set_profile.returncode == 0 and '"name": "Ana Lima"' in set_profile.stdout
    first = bank_agent("chat", "--customer", "C-42", "--message", "I am interested in savings accounts.")
    assert first.returncode == 0, first.stderr
    session = session_of(first.stdout)
    second = bank_agent("chat", "--customer", "C-42", "--session", session, "--message", "What about a mortgage?")
    assert second.returncode == 0, second.stderr
    assert "Hello Ana" in first.stdout and "Hello Ana" not in second.stdout, "the greeting belongs to the first turn only"
    with sqlite3.connect(bank_agent.data / "checkpoints.db") as db:
        threads = {row[0] for row in db.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert threads == {session}
    listing = bank_agent("sessions", "--customer", "C-42")
    assert session in listing.stdout and "savings" in listing.stdout and "mortgage" in listing.stdout
    ended = bank_agent("end", "--customer", "C-42", "--session", session)
    assert ended.returncode == 0 and "ended" in ended.stdout
    again = bank_agent("chat", "--customer", "C-42", "--session", session, "--message", "Hi")
    assert again.returncode == 2 and "has ended" in again.stderr


@pytest.mark.parametrize("args, message", [
    (["chat", "--customer", "bad id!", "--message", "hi"], "invalid customer_id"),
    (["chat", "--customer", "C-1", "--message", ""], "empty"),
    (["chat", "--customer", "C-1", "--message", "x" * 100_000], "too long"),
    (["chat", "--customer", "C-1", "--session", "s-unknown", "--message", "hi"], "no session s-unknown"),
    (["profile", "--customer", "C-1", "--set", "novalue"], "KEY=VALUE"),
    (["sessions", "delete", "--customer", "C-1"], "needs --session"),
    (["sessions", "delete", "--customer", "C-1", "--session", "s-unknown"], "no session s-unknown"),
])
def test_user_mistakes_get_one_line_errors_not_tracebacks(bank_agent, args, message):
    result = bank_agent(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("stdin, problem", [("word " * 200_000, "too long"), (b"caf\xe9 \xff", "UTF-8")])
def test_a_1mb_or_invalid_utf8_message_on_stdin_is_refused(bank_agent, stdin, problem):
    result = bank_agent("chat", "--customer", "C-1", "--message", "-", stdin=stdin)
    assert result.returncode == 2 and problem in result.stderr


def test_another_customer_cannot_continue_a_session(bank_agent):
    first = bank_agent("chat", "--customer", "C-1", "--message", "I prefer phone calls.")
    other = bank_agent("chat", "--customer", "C-2", "--session", session_of(first.stdout), "--message", "show history")
    assert other.returncode == 2 and "belongs to another customer" in other.stderr
    assert "phone" not in other.stdout


def test_an_unknown_persistence_scheme_names_the_supported_ones(bank_agent, monkeypatch):
    result = subprocess.run([sys.executable, "-m", "agent.cli", "sessions", "--customer", "C-1"], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "STORE_URL": "mongo://u:secret@h/db"}, timeout=60)
    assert result.returncode == 2
    assert "unknown store URL scheme 'mongo'" in result.stderr and "cosmos, memory, sqlite" in result.stderr
    assert "secret" not in result.stderr


def test_the_demo_recalls_the_first_session_in_a_new_process(bank_agent):
    result = bank_agent("demo")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("== Session 2")
    assert "Hello Sarah" in first and "conservative" in first and "mortgage rates" in first
    assert "offline model" in first
    assert "number 153 of 153 by date (newest first); in the prompt because it is relevant" in first
    assert "Asked about account balance, investing, mortgage" in second.split("agent>")[1]
