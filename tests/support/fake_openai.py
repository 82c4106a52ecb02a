"""A local OpenAI-compatible HTTP endpoint for tests: the real ChatOpenAI and
AzureChatOpenAI clients talk to it, and it records every request.

Answers come from the offline model (so replies use the prompt the client sent),
unless a test queues failures. Like the real API, it rejects a conversation in
which a tool call is not followed by its results.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.messages import AIMessage
from langchain_openai.chat_models.base import (
    _convert_dict_to_message,
    _convert_message_to_dict,
)

from agent.offline_model import OfflineBankModel


def unpaired_tool_calls(messages: list[dict]) -> list[str]:
    """Ids of tool calls without results right after them, and results without calls."""
    problems, open_calls = [], set()
    for message in messages:
        if message["role"] == "tool":
            if message.get("tool_call_id") not in open_calls:
                problems.append(f"result {message.get('tool_call_id')} without its call")
            open_calls.discard(message.get("tool_call_id"))
            continue
        problems += [f"call {call_id} without its result" for call_id in open_calls]
        open_calls = {call["id"] for call in message.get("tool_calls") or []}
    return problems + [f"call {call_id} without its result" for call_id in open_calls]


def word_vector(text: str, dims: int = 16) -> list[float]:
    """A deterministic bag-of-words embedding: texts sharing words score closer."""
    vector = [0.0] * dims
    for word in text.lower().split():
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dims] += 1.0
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


def embeddings_response(body: dict) -> dict:
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [{"object": "embedding", "index": i, "embedding": word_vector(str(t))} for i, t in enumerate(texts)]
    return {"object": "list", "data": data, "model": body.get("model"), "usage": {"prompt_tokens": 1, "total_tokens": 1}}


@dataclass
class FakeOpenAI:
    """The server; ``requests`` holds each request body in arrival order."""

    requests: list[dict] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    delay: float = 0.0
    model: OfflineBankModel = field(default_factory=OfflineBankModel)
    tool_calls: list[list[tuple[str, dict]]] = field(default_factory=list)
    """Scripted replies: each request that offers tools takes the next list of
    ``(tool name, arguments)`` calls instead of the offline model's answer."""
    # Hostile or broken model behaviours a test can switch on:
    trickle: float = 0.0  # seconds between the bytes of each chat answer's body
    content: str | None = None  # every chat answer's text, instead of the offline model's
    always_remember: bool = False  # every chat answer also calls remember_fact, tools offered or not
    raw_body: bytes | None = None  # answer chat requests 200 with this body (not JSON)

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, answer = fake.answer(self.path, body)
                chat = self.path.split("?")[0].endswith("/chat/completions")
                payload = fake.raw_body if chat and fake.raw_body is not None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 429:
                    self.send_header("retry-after-ms", "10")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if not (chat and fake.trickle):
                    self.wfile.write(payload)
                    return
                try:
                    for byte in payload:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(fake.trickle)
                except OSError:
                    pass  # the client gave up, as it should

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        if path.split("?")[0].endswith("/embeddings"):
            return 200, embeddings_response(body)
        if not path.split("?")[0].endswith("/chat/completions"):
            return 404, {"error": {"message": f"no route {path}"}}
        self.requests.append({"path": path, **body})
        if self.failures:
            status = self.failures.pop(0)
            return status, {"error": {"message": "injected failure", "type": "server_error"}}
        problems = unpaired_tool_calls(body["messages"])
        if problems:
            return 400, {"error": {"message": "; ".join(problems), "type": "invalid_request_error"}}
        time.sleep(self.delay)
        messages = [_convert_dict_to_message(m) for m in body["messages"]]
        if self.tool_calls and body.get("tools"):
            calls = [{"name": name, "args": args, "id": f"call_{len(self.requests)}_{n}"}
                     for n, (name, args) in enumerate(self.tool_calls.pop(0))]
            reply = AIMessage(content="", tool_calls=calls)
        else:
            reply = self.model.invoke(messages, tools=body.get("tools"))
        if self.content is not None:
            reply = AIMessage(self.content, tool_calls=reply.tool_calls)
        if self.always_remember:
            call = {"name": "remember_fact", "args": {"category": "other", "fact": f"fact {len(self.requests)}"},
                    "id": f"call_{len(self.requests):012x}"}
            reply = AIMessage(reply.content, tool_calls=[*reply.tool_calls, call])
        message = _convert_message_to_dict(reply)
        if not message.get("tool_calls"):
            message.pop("tool_calls", None)
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def chat_requests(self) -> list[dict]:
        """Requests that asked for an answer (not a summary or an episode)."""
        return [r for r in self.requests if "## Task:" not in r["messages"][0]["content"]]

    def summary_requests(self) -> list[dict]:
        return [r for r in self.requests if "## Task: extend the conversation summary" in r["messages"][0]["content"]]


