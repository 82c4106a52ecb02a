"""`bank-agent`: chat with the agent, run the demo, inspect a customer's memory."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys

from agent import memory
from agent.context import Context, InvalidContext
from agent.graph import build_graph
from agent.guard import InvalidMessage
from agent.memory import MemoryUnavailable
from agent.models import ModelUnavailable, default_model
from agent.nodes import SessionOwnershipError
from agent.persistence import open_memory
from agent.sessions import Sessions, SessionUnavailable, still_running
from checkpointers.lease import LeaseLost, SessionBusy
from plugin_registry import UnsupportedURL

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
USER_ERRORS = (
    InvalidContext, InvalidMessage, SessionUnavailable, SessionOwnershipError, ModelUnavailable,
    MemoryUnavailable, UnsupportedURL, ConnectionError, TimeoutError, SessionBusy, LeaseLost,
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
    profile.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="fields to set")
    listing = commands.add_parser("sessions", help="list a customer's sessions and their episodes")
    listing.add_argument("--customer", required=True)
    end = commands.add_parser("end", help="end a session and record its episode")
    end.add_argument("--customer", required=True)
    end.add_argument("--session", required=True)
    return parser.parse_args(argv)


async def chat(sessions: Sessions, args: argparse.Namespace) -> None:
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
    model = default_model()
    async with open_memory() as (saver, store):
        sessions = Sessions(build_graph(model=model, checkpointer=saver, store=store), model)
        if args.command == "chat":
            await chat(sessions, args)
        elif args.command == "demo":
            from agent.demo import run_demo

            await run_demo(sessions)
        elif args.command == "profile":
            customer = Context(customer_id=args.customer).customer_id
            known = await memory.aload(store, customer)
            profile = dict(known.profile or {})
            if args.set:
                for pair in args.set:
                    try:
                        pair.encode("utf-8")
                    except UnicodeEncodeError:
                        raise InvalidMessage("profile fields must be valid UTF-8 text; please retype them") from None
                    key, sep, value = pair.partition("=")
                    if not sep or not key.strip():
                        raise InvalidMessage(f"expected KEY=VALUE, got {pair!r}")
                    profile[key.strip()] = value.strip()
                await store.abatch([memory.profile_put(customer, profile)])
            print(json.dumps(profile, indent=2, ensure_ascii=False))
        elif args.command == "sessions":
            for episode in await sessions.history(args.customer):
                print(f"{episode['session_id']}  {str(episode.get('started_at'))[:16]}  "
                      f"{episode.get('status', '')}: {episode.get('summary', '')}")
        elif args.command == "end":
            episode = await sessions.end(args.customer, args.session)
            print(f"session {args.session} ended: {episode['summary']}")


def error_line(problem: BaseException) -> str:
    """One line for stderr: the problem's message for the errors we raise, the
    failure's kind and first line for anything else (a dead Redis, a full disk,
    a bad URL), with control characters escaped and long text cut."""
    text = str(problem) if isinstance(problem, USER_ERRORS) else f"{type(problem).__name__}: {problem}"
    text = (text.strip().splitlines() or [type(problem).__name__])[0]
    text = CONTROL.sub(lambda found: repr(found.group())[1:-1], text)
    return "error: " + (text if len(text) <= 300 else text[:297] + "...")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper(), format="%(levelname)s %(name)s: %(message)s")
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
