"""Authorization of the LangGraph API server (``agent/auth.py``), end to end:
one ``langgraph dev`` on Redis + Cosmos DB with HS256 tokens, asked as two
customers, as staff, as Studio and as nobody. The settings that decide whether
the server is open at all (none, ``AUTH_DISABLED=1``, a JWKS URL) are checked
on the handler in process, as a server start costs seconds each."""

from __future__ import annotations

import json
import threading
import time
import uuid
from types import SimpleNamespace
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from langgraph_sdk import Auth

import checkpointers
import stores
from agent.graph import build_graph
from agent.offline_model import OfflineBankModel
from agent.sessions import Sessions
from tests.support.fixtures_e2e import AgentWorld, LangGraphDev, ScriptedOpenAI

SECRET = "test-signing-secret-" + uuid.uuid4().hex
ISSUER = "https://login.bank.test/"
AUDIENCE = "api://bank-agent"
STUDIO = {"x-auth-scheme": "langsmith"}


def token(sub: str, *, key: str = SECRET, lifetime: float = 600, **claims) -> str:
    now = int(time.time())
    body = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + lifetime} | claims
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def run_body(text: str, **context) -> dict:
    return {"assistant_id": "bank_agent", "input": {"messages": [{"role": "user", "content": text}]},
            "context": context}


def human_texts(values: dict) -> list[str]:
    return [m["content"] for m in values["messages"] if m["type"] == "human"]


@pytest.fixture(scope="module")
def world(redis_modules, cosmos_server):
    model = ScriptedOpenAI().start()
    store_url = f"{cosmos_server.url}/db-{uuid.uuid4().hex[:12]}/memory?tls=insecure"
    yield AgentWorld(redis_modules.url, store_url, model)
    model.stop()


@pytest.fixture(scope="module")
def api(world, tmp_path_factory):
    """The one ``langgraph dev`` of this module, its keys set from the environment."""
    env = {k: v for k, v in world.env.items() if not k.startswith("AUTH_")}
    env |= {"AUTH_JWT_SECRET": SECRET, "AUTH_JWT_ISSUER": ISSUER, "AUTH_JWT_AUDIENCE": AUDIENCE}
    server = LangGraphDev(tmp_path_factory.mktemp("langgraph-dev-auth"), env).start()
    yield server
    server.stop()


@pytest.fixture
def customers(world):
    """Two customers, A and B, with a token each."""
    a, b = world.new_customer(), world.new_customer()
    return {a: token(a), b: token(b)}


def started_thread(api, customer: str, text: str) -> str:
    """A thread ``customer`` created and took one turn on."""
    status, thread = api.call("POST", "/threads", {}, headers=bearer(token(customer)))
    assert status == 200, thread
    status, values = api.call("POST", f"/threads/{thread['thread_id']}/runs/wait",
                              run_body(text, customer_id=customer), headers=bearer(token(customer)))
    assert status == 200 and human_texts(values) == [text], values
    return thread["thread_id"]


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no token"),
    pytest.param({"Authorization": SECRET}, id="not a bearer token"),
    pytest.param(bearer("not-a-jwt"), id="garbage"),
    pytest.param(bearer(token("C-1", key="another-secret-of-32-bytes-or-more")), id="bad signature"),
    pytest.param(bearer(token("C-1", lifetime=-60)), id="expired"),
    pytest.param(bearer(token("C-1", exp=None)), id="no expiry"),
    pytest.param(bearer(token("C-1", aud="api://another-service")), id="wrong audience"),
    pytest.param(bearer(token("C-1", iss="https://evil.test/")), id="wrong issuer"),
    pytest.param(bearer(token("../C-1")), id="subject not a customer id"),
    pytest.param(bearer(jwt.encode({"sub": "C-1", "exp": int(time.time()) + 600, "iss": ISSUER, "aud": AUDIENCE},
                                   None, algorithm="none")), id="unsigned"),
])
def test_requests_without_a_valid_token_are_refused(api, headers):
    for method, path, body in [("POST", "/threads/search", {}), ("POST", "/store/namespaces", {}),
                               ("POST", "/assistants/search", {"graph_id": "bank_agent"})]:
        status, answer = api.call(method, path, body, headers=headers)
        assert status == 401, (path, answer)
        assert SECRET not in json.dumps(answer), "the answer never echoes the token or the key"
        assert not headers or headers["Authorization"].split()[-1] not in json.dumps(answer)


def test_customers_see_and_run_only_their_own_threads(api, world, customers):
    (a, a_token), (b, b_token) = customers.items()
    thread = started_thread(api, a, "I am interested in a 12-month CD.")
    as_b = bearer(b_token)

    status, found = api.call("POST", "/threads/search", {}, headers=as_b)
    assert status == 200 and thread not in [t["thread_id"] for t in found]
    assert api.call("POST", "/threads/search", {"metadata": {"owner": a}}, headers=as_b) == (200, [])
    for method, path, body, refusal in [
        ("GET", f"/threads/{thread}", None, 404),  # as if it did not exist
        ("GET", f"/threads/{thread}/state", None, 404),
        ("GET", f"/threads/{thread}/history", None, 404),
        ("POST", f"/threads/{thread}/history", {}, 404),
        ("POST", f"/threads/{thread}/runs/wait", run_body("Show me this conversation", customer_id=b), 404),
        ("POST", f"/threads/{thread}/runs/wait", run_body("Show me this conversation", customer_id=a), 403),
        ("PATCH", f"/threads/{thread}", {"metadata": {"owner": b}}, 404),
        ("DELETE", f"/threads/{thread}", None, 404),
    ]:
        status, answer = api.call(method, path, body, headers=as_b)
        assert status == refusal, (method, path, status, answer)
        assert "12-month CD" not in json.dumps(answer)

    as_a = bearer(a_token)
    status, found = api.call("POST", "/threads/search", {}, headers=as_a)
    assert status == 200 and [t["thread_id"] for t in found] == [thread] and found[0]["metadata"]["owner"] == a
    status, refused = api.call("POST", f"/threads/{thread}/runs/wait", run_body("I am B now", customer_id=b),
                               headers=as_a)
    assert status == 403 and "customer_id" in refused["detail"], refused
    status, refused = api.call("POST", "/runs/wait", run_body("hello", customer_id=b), headers=as_a)
    assert status == 403, refused
    status, values = api.call("POST", f"/threads/{thread}/runs/wait", run_body("And mortgage rates?"), headers=as_a)
    assert status == 200, values  # no customer_id given: the run is the caller's own
    assert human_texts(values)[-1] == "And mortgage rates?"
    status, state = api.call("GET", f"/threads/{thread}/state", headers=as_a)
    assert status == 200 and state["values"]["customer_id"] == a
    assert b not in json.dumps(world.model.chat_requests()), "B's id never reached a model prompt"

    for path, body in [(f"/threads/{thread}/state", {"values": {"ended": True}}),
                       (f"/threads/{thread}/state", {"values": {"summary": "The customer is staff."},
                                                     "as_node": "record-episode"})]:
        status, refused = api.call("POST", path, body, headers=as_a)
        assert status == 403, refused  # state changes only by a run, never written directly
    status, patched = api.call("PATCH", f"/threads/{thread}", {"metadata": {"owner": b, "topic": "cd"}}, headers=as_a)
    assert status == 200 and patched["metadata"]["owner"] == a and patched["metadata"]["topic"] == "cd"
    assert api.call("POST", "/threads/search", {}, headers=as_b)[1] == []
    status, state = api.call("GET", f"/threads/{thread}/state", headers=as_a)
    assert status == 200 and human_texts(state["values"]) == ["I am interested in a 12-month CD.", "And mortgage rates?"]


def test_customers_end_their_own_session_with_the_end_command_and_send_no_other(api, customers):
    (a, a_token), (b, b_token) = customers.items()
    thread = started_thread(api, a, "I am disputing a $50 charge.")
    as_a, runs = bearer(a_token), f"/threads/{thread}/runs/wait"
    for command in [{"update": {"customer_id": b}}, {"update": {"ended": False}, "goto": "end-session"},
                    {"goto": "respond"}, {"resume": "yes"}]:
        status, refused = api.call("POST", runs, {"assistant_id": "bank_agent", "command": command}, headers=as_a)
        assert status == 403 and "end-session" in refused["detail"], (command, status, refused)
    ending = {"assistant_id": "bank_agent", "command": {"goto": "end-session"}}
    assert api.call("POST", runs, ending, headers=bearer(b_token))[0] == 404, "not another customer's"
    status, ended = api.call("POST", runs, ending, headers=as_a)
    assert status == 200 and ended["episode"]["status"] == "ended" and ended["episode"]["session_id"] == thread, ended
    status, found = api.call("POST", "/store/items/search", {"namespace_prefix": ["customers", a, "episodes"]},
                             headers=as_a)
    assert status == 200 and [i["value"]["status"] for i in found["items"]] == ["ended"], found
    status, refusal = api.call("POST", runs, run_body("One more thing"), headers=as_a)
    assert status == 200 and "has ended" in refusal["messages"][-1]["content"], refusal


async def test_a_run_cannot_label_its_checkpoints_with_another_customer(api, world, customers):
    (a, a_token), (b, _) = customers.items()
    thread = started_thread(api, a, "Hello")
    body = run_body("I prefer calls.") | {"metadata": {"customer_id": b, "owner": b},
                                          "config": {"metadata": {"customer_id": b}}}
    status, values = api.call("POST", f"/threads/{thread}/runs/wait", body, headers=bearer(a_token))
    assert status == 200, values
    snapshot = await world.snapshot(thread)
    assert snapshot.metadata["customer_id"] == a and snapshot.values["customer_id"] == a


def test_customers_cannot_run_from_an_earlier_checkpoint(api, customers):
    (a, a_token), _ = customers.items()
    thread = started_thread(api, a, "I am disputing a charge.")
    status, history = api.call("POST", f"/threads/{thread}/history", {"limit": 10}, headers=bearer(a_token))
    assert status == 200 and len(history) > 2, history
    earlier = history[-2]["checkpoint"]["checkpoint_id"]
    for body in [run_body("Again") | {"checkpoint_id": earlier}, run_body("Again", checkpoint_id=earlier)]:
        status, refused = api.call("POST", f"/threads/{thread}/runs/wait", body, headers=bearer(a_token))
        assert status == 403 and "latest state" in refused["detail"], (status, refused)


async def test_customers_runs_take_no_webhook():
    """In process: the server itself first refuses webhooks to private addresses
    and names it cannot resolve, which is every name on this offline machine."""
    from agent.auth import run_as_self

    customer = SimpleNamespace(user=SimpleNamespace(identity="C-1"), permissions=[])
    run = {"thread_id": None, "kwargs": {"context": {}, "config": {}, "webhook": "https://collector.example.net/hook"}}
    with pytest.raises(Auth.exceptions.HTTPException, match="webhook") as refused:
        await run_as_self(customer, run)
    assert refused.value.status_code == 403
    run["kwargs"]["webhook"] = None
    assert await run_as_self(customer, run) == {"owner": "C-1"}


def test_customers_find_the_assistant_but_change_nothing_else(api, customers):
    as_a = bearer(next(iter(customers.values())))
    status, assistants = api.call("POST", "/assistants/search", {"graph_id": "bank_agent"}, headers=as_a)
    assert status == 200 and assistants
    assistant = assistants[0]["assistant_id"]
    assert api.call("GET", f"/assistants/{assistant}", headers=as_a)[0] == 200
    for method, path, body in [
        ("POST", "/assistants", {"graph_id": "bank_agent", "config": {}}),
        ("PATCH", f"/assistants/{assistant}", {"metadata": {"hijacked": True}}),
        ("DELETE", f"/assistants/{assistant}", None),
        ("POST", "/runs/crons", {"assistant_id": assistant, "schedule": "* * * * *"}),
        ("POST", "/runs/crons/search", {}),
    ]:
        status, answer = api.call(method, path, body, headers=as_a)
        assert status == 403, (method, path, status, answer)


def test_customers_read_only_their_own_memory_and_write_none(api, customers):
    (a, a_token), (b, b_token) = customers.items()
    staff = bearer(token("support-engineer-7", roles=["staff"]))
    for customer in (a, b):
        status, answer = api.call("PUT", "/store/items", {"namespace": ["customers", customer, "profile"],
                                                          "key": "profile", "value": {"name": f"Name of {customer}"}},
                                  headers=staff)
        assert status == 204, answer

    as_a = bearer(a_token)
    status, item = api.call("GET", f"/store/items?namespace=customers.{a}.profile&key=profile", headers=as_a)
    assert status == 200 and item["value"] == {"name": f"Name of {a}"}
    status, found = api.call("POST", "/store/items/search", {"namespace_prefix": ["customers", a]}, headers=as_a)
    assert status == 200 and [i["value"] for i in found["items"]] == [{"name": f"Name of {a}"}]
    for method, path, body in [
        ("GET", f"/store/items?namespace=customers.{b}.profile&key=profile", None),
        ("POST", "/store/items/search", {"namespace_prefix": ["customers", b]}),
        ("POST", "/store/items/search", {"namespace_prefix": ["customers"]}),
        ("POST", "/store/namespaces", {}),
        ("POST", "/store/namespaces", {"prefix": ["customers"]}),
        ("PUT", "/store/items", {"namespace": ["customers", a, "profile"], "key": "profile", "value": {"tier": "Gold"}}),
        ("PUT", "/store/items", {"namespace": ["customers", b, "facts"], "key": "x", "value": {"fact": "planted"}}),
        ("PUT", "/store/items", {"namespace": ["admin"], "key": "x", "value": {"fact": "planted"}}),
        ("DELETE", "/store/items", {"namespace": ["customers", a, "profile"], "key": "profile"}),
        ("DELETE", "/store/items", {"namespace": ["customers", b, "profile"], "key": "profile"}),
    ]:
        status, answer = api.call(method, path, body, headers=as_a)
        assert status == 403, (method, path, status, answer)
        assert f"Name of {b}" not in json.dumps(answer)
    for customer in (a, b):
        status, item = api.call("GET", f"/store/items?namespace=customers.{customer}.profile&key=profile", headers=staff)
        assert status == 200 and item["value"] == {"name": f"Name of {customer}"}, "nothing was changed"


def test_staff_see_every_thread_and_all_memory(api, customers):
    (a, _), (b, _) = customers.items()
    threads = {started_thread(api, customer, f"Hello from {customer}") for customer in (a, b)}
    staff = bearer(token("support-engineer-7", roles=["staff"]))
    status, found = api.call("POST", "/threads/search", {"limit": 1000}, headers=staff)
    assert status == 200 and threads <= {t["thread_id"] for t in found}
    status, found = api.call("POST", "/threads/search", {"limit": 1000}, headers=bearer(token(a)))
    assert status == 200 and len(threads & {t["thread_id"] for t in found}) == 1, "what a customer cannot see"
    owners = set()
    for thread in threads:
        status, state = api.call("GET", f"/threads/{thread}/state", headers=staff)
        assert status == 200, state
        owners.add(state["values"]["customer_id"])
    assert owners == {a, b}
    status, written = api.call("POST", f"/threads/{thread}/state", {"values": {"summary": "Checked by staff."}},
                               headers=staff)
    assert status == 200, written
    assert api.call("GET", f"/threads/{thread}/state", headers=staff)[1]["values"]["summary"] == "Checked by staff."
    status, namespaces = api.call("POST", "/store/namespaces", {"prefix": ["customers", b]}, headers=staff)
    assert status == 200 and namespaces


def test_studio_keeps_working_in_langgraph_dev(api, customers):
    assert api.call("POST", "/threads/search", {})[0] == 401, "while anonymous API callers are refused"
    a = next(iter(customers))
    thread = started_thread(api, a, "Studio should see this.")
    status, found = api.call("POST", "/threads/search", {"limit": 1000}, headers=STUDIO)
    assert status == 200 and thread in [t["thread_id"] for t in found]
    status, state = api.call("GET", f"/threads/{thread}/state", headers=STUDIO)
    assert status == 200 and human_texts(state["values"]) == ["Studio should see this."]
    status, assistants = api.call("POST", "/assistants/search", {"graph_id": "bank_agent"}, headers=STUDIO)
    assert status == 200 and assistants


async def test_a_session_the_cli_started_opens_in_the_api_for_its_owner_only(api, world, customers, cosmos_key):
    (a, a_token), (b, b_token) = customers.items()
    async with checkpointers.aconnect(world.checkpointer_url) as saver, \
            stores.aconnect(world.store_url) as store:
        model = OfflineBankModel()
        reply = await Sessions(build_graph(model=model, checkpointer=saver, store=store)).send(
            a, "I want to open a savings account.")
    session = str(uuid.UUID(reply.session_id))  # a UUID, which the server requires of thread ids

    register = {"thread_id": session, "if_exists": "do_nothing", "metadata": {"graph_id": "bank_agent"}}
    status, refused = api.call("POST", "/threads", register, headers=bearer(b_token))
    assert status == 404 and "savings" not in json.dumps(refused), refused
    status, thread = api.call("POST", "/threads", register, headers=bearer(a_token))
    assert status == 200 and thread["metadata"]["owner"] == a, thread
    status, state = api.call("GET", f"/threads/{session}/state", headers=bearer(a_token))
    assert status == 200 and human_texts(state["values"]) == ["I want to open a savings account."]
    assert api.call("GET", f"/threads/{session}/state", headers=bearer(b_token))[0] == 404
    status, refused = api.call("POST", f"/threads/{session}/runs/wait", {**run_body("hi"), "if_not_exists": "create"},
                               headers=bearer(b_token))
    assert status == 404, refused


@pytest.fixture
def auth_env(monkeypatch):
    """agent.auth with a clean environment: set variables, then call ``authenticate``."""
    import agent.auth

    for name in ("AUTH_JWT_SECRET", "AUTH_JWKS_URL", "AUTH_JWT_ISSUER", "AUTH_JWT_AUDIENCE", "AUTH_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    agent.auth.token_rules.cache_clear()
    yield monkeypatch
    agent.auth.token_rules.cache_clear()


async def test_with_no_settings_the_server_refuses_unless_explicitly_opened(auth_env):
    from agent.auth import authenticate

    with pytest.raises(Auth.exceptions.HTTPException) as refused:
        await authenticate(authorization=f"Bearer {token('C-1')}")
    assert refused.value.status_code == 401
    assert all(name in refused.value.detail for name in ("AUTH_JWT_SECRET", "AUTH_JWKS_URL", "AUTH_DISABLED=1"))

    auth_env.setenv("AUTH_DISABLED", "1")
    user = await authenticate(authorization=None)
    assert user["permissions"] == ["staff"], "AUTH_DISABLED=1 opens the local server"


async def test_rs256_tokens_are_checked_against_the_jwks_url(auth_env):
    from agent.auth import authenticate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "use": "sig"}
    jwks = json.dumps({"keys": [public]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        auth_env.setenv("AUTH_JWKS_URL", f"http://127.0.0.1:{server.server_port}/keys")
        auth_env.setenv("AUTH_JWT_AUDIENCE", AUDIENCE)
        claims = {"sub": "C-77", "aud": AUDIENCE, "exp": int(time.time()) + 600}
        signed = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        assert await authenticate(authorization=f"Bearer {signed}") == {"identity": "C-77", "permissions": ["customer"]}

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for forged in (jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"}),
                       jwt.encode(claims, "a-guessed-secret-of-32-bytes-or-more", algorithm="HS256")):
            with pytest.raises(Auth.exceptions.HTTPException) as refused:
                await authenticate(authorization=f"Bearer {forged}")
            assert refused.value.status_code == 401
    finally:
        server.shutdown()
