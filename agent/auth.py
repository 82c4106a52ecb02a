"""Who may ask the LangGraph API server for what: the ``auth`` of ``langgraph.json``.

Callers present a JWT bearer token, checked with PyJWT: HS256 with
``AUTH_JWT_SECRET`` (development, tests) or RS256 with the keys published at
``AUTH_JWKS_URL`` (e.g. Entra ID); ``exp`` is required, and the issuer and
audience are checked when ``AUTH_JWT_ISSUER`` / ``AUTH_JWT_AUDIENCE`` are set.
The token's ``sub`` is the customer id; a ``roles`` claim holding ``staff``
gives full access, for debugging.

A customer sees and runs only their own threads: the owner is stamped into a
thread's metadata when it is created and every read, search, update, delete
and run carries a metadata filter on it, so the server itself hides the rest.
A run's ``customer_id`` must be the caller's, and a customer may register an
existing conversation (one the CLI started) only if its checkpoint names them.
Customers read only their own memory, ``("customers", sub, ...)``, and write
none; they may find and read assistants, to run the graph, and nothing else.

With no key settings the server refuses every request but Studio's (which
``langgraph dev`` serves as its local Studio user): an open server must be
asked for with ``AUTH_DISABLED=1``. Errors name what is wrong, never the token
or a key.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

import jwt
from langgraph_sdk import Auth

from agent import settings
from agent.context import validate_customer_id
from agent.errors import InvalidContext
from agent.nodes import END_SESSION

STAFF = "staff"
CUSTOMER = "customer"
NOT_CONFIGURED = (
    "API authorization is not configured: set AUTH_JWT_SECRET or AUTH_JWKS_URL "
    "(or AUTH_DISABLED=1 for a local server nobody else can reach)"
)
REFUSED_TOKENS = {
    jwt.ExpiredSignatureError: "the token has expired",
    jwt.InvalidAudienceError: "the token is not meant for this service (audience)",
    jwt.InvalidIssuerError: "the token comes from an issuer this service does not trust",
    jwt.InvalidSignatureError: "the token's signature does not verify",
    jwt.InvalidAlgorithmError: "the token is signed with an algorithm this service does not accept",
    jwt.PyJWKClientError: "the token's signing key is not available from AUTH_JWKS_URL",
}

auth = Auth()
logger = logging.getLogger(__name__)


def refused(status: int, detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=status, detail=detail)


@dataclass(frozen=True)
class TokenRules:
    """How bearer tokens are verified, from the environment."""

    secret: str | None
    jwks: jwt.PyJWKClient | None
    issuer: str | None
    audience: str | None

    @classmethod
    def from_env(cls) -> TokenRules:
        config = settings.auth_settings()
        return cls(
            secret=config.jwt_secret,
            jwks=jwt.PyJWKClient(config.jwks_url) if config.jwks_url else None,
            issuer=config.issuer,
            audience=config.audience,
        )

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's verified claims; raises ``jwt.PyJWTError``."""
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm == "HS256" and self.secret:
            key: Any = self.secret
        elif algorithm == "RS256" and self.jwks:
            key = (await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)).key
        else:
            raise jwt.InvalidAlgorithmError("algorithm not accepted")
        return jwt.decode(
            token, key, algorithms=[algorithm], issuer=self.issuer, audience=self.audience,
            options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
        )


@functools.cache
def token_rules() -> TokenRules | None:
    """The server's token rules; None when authorization is explicitly off."""
    if settings.auth_settings().disabled:
        logger.warning("AUTH_DISABLED=1: the API server serves every caller as staff")
        return None
    rules = TokenRules.from_env()
    if rules.secret is None and rules.jwks is None:
        raise refused(401, NOT_CONFIGURED)
    return rules


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """The caller: a customer (``sub``) or staff (``roles`` holds ``staff``)."""
    rules = token_rules()
    if rules is None:
        return {"identity": "local-developer", "permissions": [STAFF]}
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise refused(401, "send a bearer token: Authorization: Bearer <JWT>")
    try:
        claims = await rules.claims(token.strip())
    except jwt.PyJWTError as error:
        reason = next((text for kind, text in REFUSED_TOKENS.items() if isinstance(error, kind)), None)
        if isinstance(error, jwt.MissingRequiredClaimError):
            reason = f"the token has no {error.claim!r} claim"
        raise refused(401, reason or "the token is not a valid JWT for this service") from None
    roles = claims.get("roles")
    subject = str(claims["sub"])
    if isinstance(roles, list) and STAFF in roles:
        return {"identity": subject, "permissions": [STAFF]}
    try:
        validate_customer_id(subject)
    except InvalidContext:
        raise refused(401, "the token's subject is not a valid customer id") from None
    return {"identity": subject, "permissions": [CUSTOMER]}


def is_staff(ctx: Auth.types.AuthContext) -> bool:
    """Staff tokens, the open local server and Studio in ``langgraph dev``."""
    return isinstance(ctx.user, Auth.types.StudioUser) or STAFF in ctx.permissions


def owned_by(ctx: Auth.types.AuthContext) -> Auth.types.FilterType | None:
    return None if is_staff(ctx) else {"owner": ctx.user.identity}


def stamp_owner(value: dict, owner: str) -> None:
    """The owner, as the server's filters read it (``owner``) and as the
    agent's checkpoints name it (``customer_id``): never what the caller wrote."""
    if value.get("metadata") is None:
        value["metadata"] = {}
    value["metadata"]["owner"] = owner
    value["metadata"]["customer_id"] = owner


async def check_conversation_owner(thread_id: Any, customer_id: str) -> None:
    """Refuse to give a customer a thread whose saved conversation is someone
    else's: a thread the CLI started is in the checkpointer before the server
    has heard of it, so its metadata cannot tell."""
    from langgraph_api._checkpointer import get_checkpointer  # only inside the API server

    saved = await (await get_checkpointer()).aget_tuple(
        {"configurable": {"thread_id": str(thread_id), "checkpoint_ns": ""}}
    )
    owner = saved.checkpoint["channel_values"].get("customer_id") if saved else None
    if owner not in (None, customer_id):
        raise refused(404, f"Thread with ID {thread_id} not found")  # as for any thread not theirs


@auth.on
async def staff_only(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Everything not opened to customers below: crons, assistant changes."""
    if not is_staff(ctx):
        raise refused(403, f"customers may not {ctx.action} {ctx.resource}")


@auth.on.assistants.read
@auth.on.assistants.search
async def anyone_finds_assistants(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Customers find the assistant to run the graph."""


@auth.on.threads.create
async def own_new_thread(ctx: Auth.types.AuthContext, value: Auth.types.on.threads.create.value):
    if is_staff(ctx):
        return None
    if value.get("thread_id") is not None:
        await check_conversation_owner(value["thread_id"], ctx.user.identity)
    stamp_owner(value, ctx.user.identity)
    return owned_by(ctx)


@auth.on.threads.update
async def update_own_thread(ctx: Auth.types.AuthContext, value: Auth.types.on.threads.update.value):
    """Customers label their threads and cancel their runs; a conversation's
    state changes only by a run (a state write, which carries neither a
    metadata patch nor a run action, could set any field of it)."""
    if is_staff(ctx):
        return None
    if "metadata" not in value and not value.get("action"):
        raise refused(403, "customers change a conversation only by sending a message")
    if value.get("metadata") is not None and not value.get("action"):
        stamp_owner(value, ctx.user.identity)  # the owner cannot be given away
    return owned_by(ctx)


@auth.on.threads.read
@auth.on.threads.delete
@auth.on.threads.search
async def own_threads(ctx: Auth.types.AuthContext, value: Any):
    return owned_by(ctx)


ENDING_COMMANDS = ({"goto": END_SESSION}, {"goto": [END_SESSION]})
TIME_TRAVEL = ("checkpoint_id", "checkpoint_ns", "checkpoint_map")


@auth.on.threads.create_run
async def run_as_self(ctx: Auth.types.AuthContext, value: Auth.types.on.threads.create_run.value):
    """A customer runs the graph on their own threads, as themselves."""
    if is_staff(ctx):
        return None
    customer_id = ctx.user.identity
    kwargs = value["kwargs"]
    context = kwargs.get("context") or {}
    configurable = (kwargs.get("config") or {}).get("configurable") or {}
    for claimed in (context.get("customer_id"), configurable.get("customer_id")):
        if claimed not in (None, "", customer_id):
            raise refused(403, "a run's customer_id must be your own")
    command = {key: given for key, given in (kwargs.get("command") or {}).items() if given not in (None, [], {})}
    if command and command not in ENDING_COMMANDS:
        # A command's ``update`` writes any field of the conversation (owner,
        # deferred writes, the ended flag), as a state write would.
        raise refused(403, f'customers send a message, or end the session with command {{"goto": "{END_SESSION}"}}')
    if any(configurable.get(key) or context.get(key) for key in TIME_TRAVEL):
        # A run from an earlier checkpoint forks the conversation: an ended session could take turns again.
        raise refused(403, "customers continue a conversation from its latest state (no checkpoint_id)")
    if kwargs.get("webhook"):
        # The server would call any URL a customer names when the run ends.
        raise refused(403, "customers' runs take no webhook")
    if value.get("thread_id") is not None:
        await check_conversation_owner(value["thread_id"], customer_id)
    kwargs["context"] = {**context, "customer_id": customer_id}
    if kwargs.get("config", {}).get("configurable") is not None:
        kwargs["config"]["configurable"]["customer_id"] = customer_id
    stamp_owner(value, customer_id)  # a thread the run creates is theirs
    return owned_by(ctx)


@auth.on.store
async def own_memory(ctx: Auth.types.AuthContext, value: dict) -> None:
    """Customers read ``("customers", their id, ...)`` and write nothing."""
    if is_staff(ctx):
        return
    if ctx.action in ("put", "delete"):
        raise refused(403, "customers may not change stored memory")
    own = ("customers", ctx.user.identity)
    if tuple(value.get("namespace") or ())[:2] != own:
        raise refused(403, "customers may read only their own memory: namespace customers/<your id>/...")
