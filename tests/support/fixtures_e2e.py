"""Fixtures for the end-to-end session tests: agent processes on Redis + Cosmos DB.

Every agent here is a separate OS process (``python -m agent.cli``) talking to
the real Redis and Cosmos DB servers and to a recording OpenAI-compatible
endpoint, exactly as a deployed replica would. ``AgentWorld`` gives a test one
fresh Cosmos database, fresh customer ids, the environment those processes
need, and ways to look at what they stored: the thread's checkpoint (through
the project's own saver) and the raw Cosmos documents (through azure-cosmos).
"""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from azure.cosmos import CosmosClient
from urllib3.exceptions import InsecureRequestWarning

import checkpointers
from agent.graph import build_graph
from agent.offline_model import OfflineBankModel
from agent.leases import RedisLease
from tests.support.fake_openai import FakeOpenAI
from tests.support.fixtures_cosmos import TEST_KEY
from backends.devservers import ROOT, free_port, wait_until

CLI_TIMEOUT = 120  # seconds; one CLI turn takes ~5-10 s on a loaded 2-core machine
SESSION_LINE = re.compile(r"--session ([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\b")
TOOL_CALL_ID = re.compile(r"call_[0-9a-f]{12}")


def finish(process: subprocess.Popen, args: tuple | list, timeout: float) -> subprocess.CompletedProcess:
    """The finished process, or an assertion naming the command if it outlives ``timeout``."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate(timeout=10)
        raise AssertionError(f"bank-agent {args} did not finish in {timeout}s: {stdout}\n{stderr}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@dataclass
class ScriptedOpenAI(FakeOpenAI):
    """The recording endpoint, with ``on_request(body)`` called in the server
    thread before each chat completion is answered: a test blocks there to keep
    a model call in flight, or freezes a service just before the reply."""

    on_request: Callable[[dict], None] | None = None

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        if self.on_request is not None and path.split("?")[0].endswith("/chat/completions"):
            self.on_request(body)
        return super().answer(path, body)


def session_of(output: str) -> str:
    found = SESSION_LINE.search(output)
    assert found, f"no session id in the output: {output!r}"
    return found.group(1)


def user_texts(request: dict) -> list[str]:
    """The customer messages a model request carried."""
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def comparable(messages: list) -> list[tuple]:
    """Messages as (type, content, tool calls) with the random tool-call ids left out."""
    return [
        (m.type, m.content, [(c["name"], c["args"]) for c in getattr(m, "tool_calls", None) or []])
        for m in messages
    ]


def without_call_ids(text: str | None) -> str | None:
    return TOOL_CALL_ID.sub("call_<id>", text) if text else text


class AgentProcess:
    """An interactive ``chat`` process kept running like a server replica:
    ``say`` writes one customer line to its stdin and waits for its answer."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def say(self, text: str, timeout: float = CLI_TIMEOUT) -> str:
        """The agent's reply to ``text`` (the ``agent> `` line, prefix removed)."""
        self.send(text + "\n")
        return self.read_answer(text, timeout)

    def send(self, typed: str) -> None:
        """Type ``typed`` (one or more lines) without waiting for an answer."""
        self.process.stdin.write(typed)
        self.process.stdin.flush()

    def read_answer(self, text: str = "", timeout: float = CLI_TIMEOUT) -> str:
        """The next ``agent> `` line (prefix removed), to ``text`` if named."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no answer to {text!r} within {timeout}s; output so far: {self.output}") from None
            if line is None:
                raise AssertionError(f"the agent process exited (rc={self.process.wait(5)}): {self.stderr()}")
            self.output.append(line)
            if "agent> " in line:
                return line.split("agent> ", 1)[1].rstrip("\n")

    def stderr(self) -> str:
        try:
            return self.process.stderr.read() if self.process.poll() is not None else "(still running)"
        except ValueError:
            return "(closed)"

    def close(self, timeout: float = 30) -> int:
        """End the chat as a customer would (end of input) and wait for the exit code."""
        if self.process.poll() is None:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class AgentWorld:
    """One test's persistence (a Redis URL, a fresh Cosmos database), model
    endpoint and customers, and the agent processes started on them."""

    checkpointer_url: str
    store_url: str
    model: ScriptedOpenAI
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        # A loaded machine's local Cosmos DB server may take seconds: only the
        # fault tests (which set it) want the store to time out.
        env = {"MEMORY_TIMEOUT_SECONDS": "60"} | {
            k: v for k, v in os.environ.items()
            if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "CHECKPOINTER_", "STORE_", "COSMOS_"))}
        return env | {
            "CHECKPOINTER_URL": self.checkpointer_url,
            "STORE_URL": self.store_url,
            "COSMOS_KEY": TEST_KEY,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": self.model.base_url,
            "OPENAI_MODEL": "gpt-4",
            "MODEL_TIMEOUT_SECONDS": "60",
            "PYTHONUNBUFFERED": "1",
        }

    @staticmethod
    def new_customer() -> str:
        return f"C-{uuid.uuid4().hex[:10]}"

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "agent.cli", *args], cwd=ROOT, env=self.env,
                                   text=True, **kwargs)
        self.processes.append(process)
        return process

    def run(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
        """One ``bank-agent`` command in a new process, to completion."""
        return self.run_together([list(args)], timeout=timeout)[0]

    def run_together(self, commands: list[list[str]], timeout: float = CLI_TIMEOUT) -> list[subprocess.CompletedProcess]:
        """Independent ``bank-agent`` commands, each in its own process, run at the same time."""
        processes = [self.popen(*args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for args in commands]
        return [finish(process, args, timeout) for args, process in zip(commands, processes)]

    def on_terminal(self, *args: str, typed: list[str], timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
        """A ``bank-agent`` command whose stdin is a terminal (a pty), as when a
        person runs it: ``typed`` lines are its answers, then end of input (^D)."""
        controller, terminal = pty.openpty()
        try:
            process = self.popen(*args, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            os.close(terminal)
            terminal = None
            os.write(controller, "".join(f"{line}\n" for line in typed).encode() + b"\x04")
            return finish(process, args, timeout)
        finally:
            os.close(controller)
            if terminal is not None:
                os.close(terminal)

    def chat(self, customer: str, message: str, session: str | None = None, *extra: str) -> subprocess.CompletedProcess:
        args = ["chat", "--customer", customer, "--message", message, *extra]
        return self.run(*args, *(["--session", session] if session else []))

    def replica(self, customer: str, session: str | None = None, *extra: str) -> AgentProcess:
        """An interactive ``chat`` process (a long-lived server replica)."""
        args = ["chat", "--customer", customer, *(["--session", session] if session else []), *extra]
        return AgentProcess(self.popen(*args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))

    async def snapshot(self, thread_id: str, checkpointer_url: str | None = None):
        """The thread's ``StateSnapshot`` read through the project's own saver."""
        async with checkpointers.aconnect(checkpointer_url or self.checkpointer_url) as saver:
            graph = build_graph(model=OfflineBankModel(), checkpointer=saver)
            return await graph.aget_state({"configurable": {"thread_id": thread_id}})

    def wait_for_lease(self, thread_id: str) -> None:
        """Until the Redis turn lease of a killed process has run out."""
        client = redis.Redis.from_url(self.checkpointer_url.split("?")[0], socket_timeout=5)
        try:
            wait_until(lambda: not client.exists(RedisLease.key(thread_id)), "the dead turn's lease to run out")
        finally:
            client.close()

    def documents(self, query: str = 'SELECT c.ns, c.key, c["value"] FROM c') -> list[dict]:
        """Every document in the test's Cosmos container, read with azure-cosmos
        (``query`` picks the fields: ``SELECT * FROM c`` for all of them)."""
        parts = urlsplit(self.store_url)
        database, container = parts.path.strip("/").split("/")[:2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureRequestWarning)  # the test server's self-signed certificate
            with CosmosClient(f"https://{parts.netloc}", credential=TEST_KEY, connection_verify=False) as client:
                items = client.get_database_client(database).get_container_client(container)
                return list(items.query_items(query, enable_cross_partition_query=True))

    def memory_items(self, customer: str, kind: str) -> list[dict]:
        """The raw store documents of one customer's ``profile``/``facts``/``episodes``."""
        return [doc for doc in self.documents() if doc["ns"] == ["customers", customer, kind]]

    def assert_no_duplicates(self, customer: str, sessions: list[str]) -> None:
        """One episode per session and each fact stored once."""
        episodes = Counter(doc["value"]["session_id"] for doc in self.memory_items(customer, "episodes"))
        assert episodes == Counter(sessions), f"episodes per session: {episodes}"
        facts = Counter((doc["value"]["category"], " ".join(doc["value"]["fact"].lower().split()))
                        for doc in self.memory_items(customer, "facts"))
        assert all(count == 1 for count in facts.values()), f"duplicated facts: {facts}"

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def redis_keys_of(url: str, thread_id: str) -> list[bytes]:
    client = redis.Redis.from_url(url.split("?")[0], socket_timeout=5)
    try:
        return list(client.scan_iter(match=f"*{thread_id}*", count=1000))
    finally:
        client.close()


@pytest.fixture
def scripted_openai():
    server = ScriptedOpenAI().start()
    yield server
    server.on_request = None
    server.stop()


@pytest.fixture
def agent_world_on(cosmos_server, scripted_openai):
    """``agent_world_on(checkpointer_url)``: an AgentWorld on that Redis and a
    fresh Cosmos database; its processes are killed when the test ends."""
    worlds: list[AgentWorld] = []

    def make(checkpointer_url: str) -> AgentWorld:
        store_url = f"{cosmos_server.url}/db-{uuid.uuid4().hex[:12]}/memory?tls=insecure"
        worlds.append(AgentWorld(checkpointer_url, store_url, scripted_openai))
        return worlds[-1]

    yield make
    for world in worlds:
        world.stop()


@pytest.fixture
def agent_world(agent_world_on, redis_modules):
    """An AgentWorld on the session's Redis with modules."""
    return agent_world_on(redis_modules.url)


PROJECT_FILES = ("agent", "checkpointers", "stores", "backends", "langgraph.json")
LANGGRAPH = Path(sys.executable).parent / "langgraph"
SERVING_ON = re.compile(r"API: \x1b\[36mhttp://127\.0\.0\.1:(\d+)")


@dataclass
class LangGraphDev:
    """``langgraph dev`` on a free port, run from its own directory (links to the
    project's files) so its ``.langgraph_api`` thread registry belongs to this
    test alone; the checkpointer and store are the world's Redis and Cosmos DB."""

    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in PROJECT_FILES:
            (self.workdir / name).symlink_to(ROOT / name)
        self.log_path = self.workdir / "server.log"

    @property
    def registry(self) -> Path:
        return self.workdir / ".langgraph_api"

    def start(self, timeout: float = 90) -> "LangGraphDev":
        """Start and wait until the server answers. If another process took ``port``
        (parallel tests), ``langgraph dev`` serves on a port it finds free and names
        it in its welcome banner: ``port`` becomes that one."""
        already_logged = len(self.log())
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [str(LANGGRAPH), "dev", "--no-browser", "--host", "127.0.0.1", "--port", str(self.port), "--no-reload"],
                cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

        def answers() -> bool:
            assert self.process.poll() is None, f"langgraph dev exited: {self.log()[-3000:]}"
            serving = SERVING_ON.search(self.log()[already_logged:])
            if serving is None:
                return False
            self.port = int(serving.group(1))
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ok", timeout=2) as response:
                return response.status == 200

        wait_until(answers, f"langgraph dev on port {self.port}", timeout=timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Stop the server's process group with ``sig`` (SIGTERM: a clean shutdown)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = CLI_TIMEOUT,
             headers: dict[str, str] | None = None) -> tuple[int, object]:
        """(HTTP status, decoded JSON or text) of one API request."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def langgraph_dev_on(tmp_path):
    """``langgraph_dev_on(world, **env)``: a ``langgraph dev`` server (not
    started) on the world's Redis and Cosmos DB, with ``env`` added to the
    world's environment; killed when the test ends."""
    servers: list[LangGraphDev] = []

    def make(world: AgentWorld, **env: str) -> LangGraphDev:
        servers.append(LangGraphDev(tmp_path / f"langgraph-dev-{len(servers)}", world.env | env))
        return servers[-1]

    yield make
    for server in servers:
        server.stop(signal.SIGKILL)
