"""`bank-agent`: chat with the agent, run the demo, inspect a customer's memory."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from agent.context import Context
from agent.errors import (
    ImportRejected, InvalidContext, InvalidMessage, LeaseLost, MemoryUnavailable, ModelUnavailable, SessionBusy,
    SessionOwnershipError, SessionUnavailable, SettingsError,
)
from agent.settings import log_level
from backends.registry import UnsupportedURL

if TYPE_CHECKING:
    from agent.sessions import Sessions

# The agent, its clients and back ends load only once a command runs, so
# `bank-agent --help` answers at once.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
USER_ERRORS = (
    InvalidContext, InvalidMessage, SessionUnavailable, SessionOwnershipError, ModelUnavailable,
    MemoryUnavailable, UnsupportedURL, ConnectionError, TimeoutError, SettingsError, ImportRejected, SessionBusy,
    LeaseLost,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bank-agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="talk to the agent (interactive, or one --message)")
    chat.add_argument("--customer", required=True, help="customer id, e.g. C-123")
    chat.add_argument("--session", help="resume this session id")
    chat.add_argument("--message", help="send one message and exit ('-' reads it from standard input)")
    chat.add_argument("--retry", action="store_true", help="retry an interrupted turn without asking")
    chat.add_argument("--budget", type=int, help="token budget (default TOKEN_BUDGET or 8000)")
    commands.add_parser("demo", help="Sarah Johnson's memory at work across two processes")
    profile = commands.add_parser("profile", help="show or set a customer's profile")
    profile.add_argument("--customer", required=True)
    profile.add_argument("--set", nargs="+", metavar="KEY=VALUE",
                         help="fields to set; a JSON value (42, true, [\"CDs\"]) keeps its type, anything else is text")
    profile.add_argument("--unset", nargs="+", metavar="KEY", help="fields to remove")
    listing = commands.add_parser("sessions", help="list a customer's sessions, or delete one")
    listing.add_argument("action", nargs="?", choices=["list", "delete"], default="list")
    listing.add_argument("--customer", required=True)
    listing.add_argument("--session", help="the session to delete")
    customer = commands.add_parser("customer", help="a customer's data rights: export or erase all they told us")
    customer.add_argument("action", choices=["export", "erase"])
    customer.add_argument("--customer", required=True)
    customer.add_argument("--output", help="export to this file instead of standard output")
    end = commands.add_parser("end", help="end a session and record its episode")
    end.add_argument("--customer", required=True)
    end.add_argument("--session", required=True)
    end.add_argument("--budget", type=int, help="token budget of the episode call (default TOKEN_BUDGET or 8000)")
    store_memory = commands.add_parser("memory", help="maintain long-term memory").add_subparsers(dest="action", required=True)
    finalize = store_memory.add_parser("finalize", help="have the model write the episodes of abandoned sessions (for a scheduler)")
    finalize.add_argument("--idle-minutes", type=float, help="idle time that counts as abandoned (default SESSION_IDLE_MINUTES or 30)")
    imports = store_memory.add_parser("import", help="import a customer's facts and episodes from a JSON Lines file")
    imports.add_argument("--customer", required=True)
    imports.add_argument("file", type=Path)
    return parser.parse_args(argv)


async def chat(sessions: Sessions, args: argparse.Namespace) -> None:
    from agent.sessions import still_running

    session_id = args.session
    if session_id and args.retry and await sessions.turn_running(session_id):
        raise still_running(session_id)
    if session_id and await sessions.pending_turn(args.customer, session_id):
        interactive = args.message is None and sys.stdin.isatty()
        answer = "y" if args.retry else input("Your last message was interrupted. Retry it? [Y/n] ") if interactive else "n"
        if answer.strip().lower() in ("", "y", "yes"):
            reply = await sessions.retry(args.customer, session_id)
            print(f"agent> {reply.text}")
        elif args.message is not None:
            raise SessionUnavailable("the last turn was interrupted: resume with --retry first")
    if args.message == "-":
        args.message = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
    messages = [args.message] if args.message is not None else None
    while True:
        text = messages.pop(0) if messages else (None if messages is not None else _prompt())
        if text is None:
            break
        try:
            reply = await sessions.send(args.customer, text, session_id, token_budget=args.budget)
        except InvalidMessage as problem:
            if args.message is not None:
                raise
            print(f"error: {problem}", file=sys.stderr)
            continue
        if session_id is None:
            print(f"(session {reply.session_id}; resume with --session {reply.session_id})")
        session_id = reply.session_id
        print(f"agent> {reply.text}")


def _prompt() -> str | None:
    try:
        return input("you> ")
    except EOFError:
        return None


async def run(args: argparse.Namespace) -> None:
    import stores
    from agent import memory
    from agent.graph import build_graph
    from agent.models import default_model
    from agent.persistence import open_memory
    from agent.sessions import Sessions

    model = default_model()
    async with open_memory() as (saver, store):
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store))
        if args.command == "chat":
            await chat(sessions, args)
        elif args.command == "demo":
            from agent.demo import run_demo

            await run_demo(sessions)
        elif args.command == "profile":
            customer = Context(customer_id=args.customer).customer_id
            known = await memory.aload(store, customer)
            profile = dict(known.profile or {})
            if args.set or args.unset:
                changes, removed = profile_edit(args.set or [], args.unset or [])
                profile = await stores.aupdate_item(
                    store, memory.profile_namespace(customer), memory.PROFILE_KEY,
                    lambda current: {k: v for k, v in {**(current or {}), **changes}.items() if k not in removed})
            print(json.dumps(profile, indent=2, ensure_ascii=False))
        elif args.command == "sessions" and args.action == "delete":
            if not args.session:
                raise InvalidMessage("sessions delete needs --session")
            await sessions.delete_session(args.customer, args.session)
            print(f"session {args.session} deleted")
        elif args.command == "sessions":
            for episode in await sessions.history(args.customer):
                print(f"{episode['session_id']}  {str(episode.get('started_at'))[:16]}  "
                      f"{episode.get('status', '')}: {episode.get('summary', '')}")
        elif args.command == "memory":
            await memory_command(sessions, args)
        elif args.command == "customer" and args.action == "export":
            exported = json.dumps(await sessions.export_customer(args.customer), indent=2, ensure_ascii=False)
            if args.output:
                with open(args.output, "w", encoding="utf-8") as file:
                    file.write(exported + "\n")
            else:
                print(exported)
        elif args.command == "customer":
            erased = await sessions.erase_customer(args.customer)
            print(f"customer {args.customer} erased: {erased['sessions']} sessions, {erased['memory_items']} memory items")
        elif args.command == "end":
            episode = await sessions.end(args.customer, args.session, token_budget=args.budget)
            print(f"session {args.session} ended: {episode['summary'] if episode else 'it had no turns to record'}")


def profile_edit(pairs: list[str], unset: list[str]) -> tuple[dict, set[str]]:
    """The fields ``profile --set KEY=VALUE`` sets (a JSON value keeps its type:
    42, true, ["CDs"]; anything else is text), masked like every stored value,
    and the keys ``--unset`` removes."""
    from agent.privacy import mask_value

    changes = {}
    for pair in [*pairs, *unset]:
        try:
            pair.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidMessage("profile fields must be valid UTF-8 text; please retype them") from None
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidMessage(f"expected KEY=VALUE, got {pair!r}")
        try:
            typed = json.loads(value)
        except ValueError:
            typed = None
        changes[key.strip()] = value.strip() if typed is None else typed
    return mask_value(changes), {key.strip() for key in unset}


async def memory_command(sessions: Sessions, args: argparse.Namespace) -> None:
    from agent import episodes, memory_import

    if args.action == "finalize":
        idle = None if args.idle_minutes is None else timedelta(minutes=args.idle_minutes)
        print(f"{await episodes.finalize_all(sessions, idle=idle)} abandoned session(s) finalised")
    else:
        customer = Context(customer_id=args.customer).customer_id
        done = await memory_import.aimport(sessions.graph.store, customer, args.file)
        print(f"imported {done.facts} fact(s) and {done.episodes} episode(s) for {customer}")


def error_line(problem: BaseException) -> str:
    """One line for stderr: the message of the errors we raise (its lines
    joined, e.g. every bad line of an import), the failure's kind and first
    line for anything else (a dead Redis, a full disk, a bad URL), with control
    characters escaped and long text cut."""
    if isinstance(problem, USER_ERRORS):
        text, limit = "; ".join(line.strip() for line in str(problem).splitlines() if line.strip()), 2000
    else:
        text, limit = f"{type(problem).__name__}: {problem}".strip().splitlines()[0], 300
    text = CONTROL.sub(lambda found: repr(found.group())[1:-1], text or type(problem).__name__)
    return "error: " + (text if len(text) <= limit else text[:limit - 3] + "...")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=log_level(), format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if getattr(args, "budget", None) is not None and args.budget <= 0:
        print(f"error: --budget must be a positive number of tokens, got {args.budget}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as problem:  # the customer gets one line; LOG_LEVEL=DEBUG shows the traceback
        logging.getLogger("agent.cli").debug("failed", exc_info=True)
        print(error_line(problem), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
