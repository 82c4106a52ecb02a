"""Every failure ends in one ``error:`` line and a non-zero exit, never a
traceback, and a turn that had started keeps the customer's message for
``--retry`` (issue 8, findings 2 and 8). Real CLI processes, real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
import redis

from agent.cli import main
from agent.leases import RedisLease
from tests.support.fixtures_e2e import CLI_TIMEOUT, AgentWorld, finish, session_of
from backends.devservers import RedisServer, wait_until

CASES = {
    "ttl=abc": ({"CHECKPOINTER_URL": "redis://127.0.0.1:1?ttl=abc"}, ["chat", "--customer", "C-1", "--message", "hi"]),
    "timeout=abc": ({"CHECKPOINTER_URL": "redis://127.0.0.1:1?timeout=abc"}, ["chat", "--customer", "C-1", "--message", "hi"]),
    "port 99999": ({"CHECKPOINTER_URL": "redis://127.0.0.1:99999"}, ["chat", "--customer", "C-1", "--message", "hi"]),
    "[::1": ({"CHECKPOINTER_URL": "redis://[::1"}, ["chat", "--customer", "C-1", "--message", "hi"]),
    "unwritable data dir (sessions)": ({"CHECKPOINTER_URL": "sqlite:////proc/bank-agent/checkpoints.db",
                                        "STORE_URL": "sqlite:////proc/bank-agent/store.db"}, ["sessions", "--customer", "C-1"]),
    "full disk": ({"CHECKPOINTER_URL": "sqlite:////dev/full"}, ["chat", "--customer", "C-1", "--message", "hi"]),
    "non-UTF-8 profile": ({}, ["profile", "--customer", "C-1", "--set", "name=\udcff\udcfe"]),
    "control characters in a session id": ({}, ["chat", "--customer", "C-1", "--session", "s-\x1b[2J\x07", "--message", "hi"]),
    "--budget 0": ({}, ["chat", "--customer", "C-1", "--budget", "0", "--message", "hi"]),
}


@pytest.mark.parametrize("case", CASES)
def test_each_failure_is_one_error_line(case, tmp_path, scripted_openai, monkeypatch, capsys):
    world = AgentWorld(f"sqlite:///{tmp_path}/checkpoints.db", f"sqlite:///{tmp_path}/store.db", scripted_openai)
    env, args = CASES[case]
    for key, value in (world.env | env).items():
        monkeypatch.setenv(key, value)
    code = main(args)
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert code != 0 and len(errors) == 1, stderr
    assert "Traceback" not in stderr and "\x1b" not in stderr and "\x07" not in stderr
    assert scripted_openai.requests == [], "nothing reached the model"


@pytest.fixture
def redis_aof(tmp_path):
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield server
    server.stop()


def test_redis_killed_mid_turn_is_one_error_line_and_the_message_is_kept(redis_aof, tmp_path, scripted_openai,
                                                                          monkeypatch):
    monkeypatch.setenv("SESSION_LEASE_SECONDS", "2")  # the dead turn's lease frees the session soon
    url = f"{redis_aof.url}?mode=plain&timeout=2&connect_timeout=2"
    world = AgentWorld(url, f"sqlite:///{tmp_path}/store.db", scripted_openai)
    customer = world.new_customer()
    first = world.chat(customer, "Hello.")
    assert first.returncode == 0, first.stderr
    session = session_of(first.stdout)

    def kill_redis(body: dict) -> None:
        scripted_openai.on_request = None
        redis_aof.process.send_signal(signal.SIGKILL)
        redis_aof.process.wait(timeout=10)

    scripted_openai.on_request = kill_redis
    failed = world.chat(customer, "Do you have a 12-month CD?", session)
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert failed.returncode != 0 and len(errors) == 1 and "Traceback" not in failed.stderr, failed.stderr

    redis_aof.start()
    client = redis.Redis(port=redis_aof.port)
    wait_until(lambda: not client.exists(RedisLease.key(session)), "the dead turn's lease to run out")
    client.close()
    retried = world.run("chat", "--customer", customer, "--session", session, "--retry")
    assert retried.returncode == 0 and "agent> " in retried.stdout, retried.stderr
    assert "12-month CD" in str(scripted_openai.chat_requests()[-1]["messages"]), "the kept message was answered"


def test_retry_while_the_turn_is_running_is_refused_as_still_running(tmp_path, scripted_openai):
    world = AgentWorld(f"sqlite:///{tmp_path}/checkpoints.db", f"sqlite:///{tmp_path}/store.db", scripted_openai)
    customer = world.new_customer()
    first = world.chat(customer, "Hello.")
    session = session_of(first.stdout)
    in_flight, release = threading.Event(), threading.Event()

    def hold(body: dict) -> None:
        in_flight.set()
        release.wait(CLI_TIMEOUT)

    scripted_openai.on_request = hold
    running = world.popen("chat", "--customer", customer, "--session", session, "--message", "Second.",
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert in_flight.wait(CLI_TIMEOUT), "the second turn reached the model"
        retried = world.run("chat", "--customer", customer, "--session", session, "--retry")
    finally:
        release.set()
        scripted_openai.on_request = None
    assert retried.returncode != 0 and "still running" in retried.stderr, retried.stderr
    done = finish(running, ["Second."], CLI_TIMEOUT)
    assert done.returncode == 0 and "agent> " in done.stdout, done.stderr
    assert len(scripted_openai.chat_requests()) == 2, "the turn ran once"


def test_a_failed_entra_id_sign_in_is_one_error_line(tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith(("OPENAI_", "AZURE_"))}
    env |= {"BANK_AGENT_DATA_DIR": str(tmp_path), "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com/",
            "AZURE_OPENAI_DEPLOYMENT": "gpt-4o-mini"}
    done = subprocess.run([sys.executable, "-m", "agent.cli", "chat", "--customer", "C-1", "--message", "hi"],
                          env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], "one line, not the credential chain's log"
    assert done.stderr.startswith("error: Azure OpenAI: no Entra ID credential could sign in")
