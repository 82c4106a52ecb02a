"""Masking of payment and identity data before anything is stored or sent to a model.

What a customer types is masked as it enters the graph's state (the
``messages`` reducer), again on its way to the checkpointer (the run's raw
input and every node's pending writes are saved before any reducer runs), in
every store write, in every model prompt and in every log record:

- payment card numbers (13-19 digits, spaces or dashes allowed, Luhn-valid)
  become ``[card ending 1111]``;
- IBANs (mod-97 valid) become ``[IBAN ending 5432]``; labelled account and
  routing numbers keep their last 4 characters;
- US social security numbers (``123-45-6789``, or 9 digits labelled SSN)
  become ``[SSN masked]``;
- the value after PIN, CVV/CVC, password, passcode, one-time code/OTP or
  security code becomes ``[masked]``.

Own validated patterns rather than Presidio: its pattern recognizers run
offline but the package pulls in spaCy (hundreds of MB) for what is a few
regular expressions and two checksums here, and it rejects the test SSNs a
bank's own staff use. Masking is deterministic (the same text always masks
the same way) and leaves text it does not recognise byte for byte alone.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.message import add_messages

MASKED = "[masked]"
NOTICE = (
    "(For your security I masked the card number, account number or secret code in your "
    "message; please never send a full card number, PIN or password here.)"
)
# Any masking leaves one of these marks, so later steps can tell masked text apart.
MASK_MARK = re.compile(r"\[(?:card |IBAN )?ending \w{4}\]|\[SSN masked\]|\[masked\]")

# Cheap test first: text with no run of 9 digits (the shortest SSN), no IBAN
# start and no label of a secret or an account number is returned as is.
MIGHT_HOLD = re.compile(
    r"\d(?:[ -]?\d){8}|\b[a-z]{2}\d\d|\b(?:pins?|cvv2?|cvc2?|cid|pass\w*|otp|one[- ]?time|security code"
    r"|verification code|ssn|social security|account|acct|a/c|routing|aba|sort code)\b",
    re.IGNORECASE,
)
LONG_NUMBER = re.compile(r"\d(?:[ -]?\d){12}")
IBAN_START = re.compile(r"\b[A-Za-z]{2}\d\d")
SSN_SHAPE = re.compile(r"\d{3}[- ]\d\d[- ]\d{4}")
ACCOUNT_LABELS = ("account", "acct", "a/c", "routing", "aba", "sort code")
SECRET_WORDS = ("pin", "cvv", "cvc", "cid", "code", "otp", "pass")
DIGIT_RUN = re.compile(r"(?<![\w.,/])(?<!\w-)\d(?:[ -]?\d)*(?![\w/]|[.,]\d)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}\b", re.IGNORECASE)
FILLER = r"(?:\W{0,3}\b(?:is|was|be|number|num|no|code|of|for|on|my|the|this|card|account|new|old|now)\b)*\W{0,3}"
NUMERIC_SECRET = re.compile(
    r"\b(pins?|cvv2?|cvc2?|cid|security code|one[- ]?time (?:pass)?code|otp|verification code|passcode)\b"
    rf"({FILLER})(\d(?:[ -]?\d){{2,9}})(?!\d)",
    re.IGNORECASE,
)
WORD_SECRET = re.compile(
    rf"\b(password|passphrase|passcode)\b({FILLER})([^\s,;]+)", re.IGNORECASE
)
# Words that follow "my password is ..." when no password does.
NOT_SECRETS = frozenset(
    "not wrong incorrect expired locked blocked correct right the a an my too still being invalid "
    "changed reset working required needed different same new old weak strong compromised stolen "
    "forgotten lost saved empty missing long short also it that there in on for to and or but "
    "please now what which when where how why".split()
)
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
LABELLED_SSN = re.compile(
    r"\b(ssn|social security(?: number| no\.?)?)\b(\W{0,3}(?:is\W{0,3})?)(\d{3}[- ]?\d{2}[- ]?\d{4})(?!\d)",
    re.IGNORECASE,
)
LABELLED_ACCOUNT = re.compile(
    r"\b(account|acct|a/c|routing|aba|sort code)\b"
    r"((?:\W{0,3}\b(?:number|num|no|is)\b)*\W{0,3})(\d(?:[ -]?\d){4,30})(?!\d)",
    re.IGNORECASE,
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    rearranged = candidate[4:] + candidate[:4]
    return 15 <= len(candidate) <= 34 and int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _mask_cards(text: str) -> str:
    """Runs of digits (single spaces or dashes between them) that hold a
    Luhn-valid 13-19 digit number, taken group by group so a number followed
    by another figure is still found."""

    def replace(match: re.Match) -> str:
        run = match.group(0)
        groups = re.split(r"([ -])", run)
        numbers, separators = groups[0::2], groups[1::2]
        if len(numbers) == 1:
            return f"[card ending {run[-4:]}]" if 13 <= len(run) <= 19 and luhn_valid(run) else run
        out, start = [], 0
        while start < len(numbers):
            for end in range(len(numbers), start, -1):
                digits = "".join(numbers[start:end])
                if 13 <= len(digits) <= 19 and luhn_valid(digits):
                    out.append(f"[card ending {digits[-4:]}]")
                    break
            else:
                end = start + 1
                out.append(numbers[start])
            if end < len(numbers):
                out.append(separators[end - 1])
            start = end
        return "".join(out)

    return DIGIT_RUN.sub(replace, text)


def _mask_ibans(text: str) -> str:
    def replace(match: re.Match) -> str:
        groups = match.group(0).split(" ")
        for end in range(len(groups), 0, -1):
            candidate = "".join(groups[:end]).upper()
            if iban_valid(candidate):
                rest = " ".join(groups[end:])
                return f"[IBAN ending {candidate[-4:]}]" + (f" {rest}" if rest else "")
        return match.group(0)

    return IBAN.sub(replace, text)


def _mask_word_secret(match: re.Match) -> str:
    keyword, filler, value = match.groups()
    if filler.endswith("[") or value.startswith("["):  # already masked
        return match.group(0)
    stated = bool(re.search(r"[:=]|\b(?:is|was)\b", filler, re.IGNORECASE))
    if any(c.isdigit() for c in value) or (stated and value.lower().strip(".!?") not in NOT_SECRETS):
        return f"{keyword}{filler}{MASKED}"
    return match.group(0)


def _keep_last_four(match: re.Match) -> str:
    label, filler, number = match.groups()
    return f"{label}{filler}[ending {re.sub(r'[^0-9]', '', number)[-4:]}]"


def mask(text: str) -> str:
    """``text`` with card numbers, IBANs, account and routing numbers, SSNs and
    secret codes masked; unchanged (the same object) when it holds none."""
    if not MIGHT_HOLD.search(text):
        return text
    # Each pattern runs only when a cheap test says it may match: they cost
    # about 1 µs per character each when run over text that holds nothing.
    masked = _mask_cards(text) if LONG_NUMBER.search(text) else text
    masked = _mask_ibans(masked) if IBAN_START.search(masked) else masked
    lower = masked.lower()
    if "ssn" in lower or "social security" in lower:
        masked = LABELLED_SSN.sub(lambda m: f"{m.group(1)}{m.group(2)}[SSN masked]", masked)
    if SSN_SHAPE.search(masked):
        masked = SSN.sub("[SSN masked]", masked)
    if any(label in lower for label in ACCOUNT_LABELS):
        masked = LABELLED_ACCOUNT.sub(_keep_last_four, masked)
    if any(word in lower for word in SECRET_WORDS):
        masked = NUMERIC_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASKED}", masked)
        masked = WORD_SECRET.sub(_mask_word_secret, masked)
    return text if masked == text else masked


def mask_value(value: Any) -> Any:
    """Strings, messages and the dicts, lists and tuples holding them, masked;
    the same object back when nothing in it needed masking."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, BaseMessage):
        return _mask_message(value)
    if isinstance(value, dict):
        masked = {key: mask_value(item) for key, item in value.items()}
        return value if all(masked[k] is value[k] for k in value) else masked
    if isinstance(value, list) or type(value) is tuple:
        masked = [mask_value(item) for item in value]
        if all(new is old for new, old in zip(masked, value)):
            return value
        return masked if isinstance(value, list) else tuple(masked)
    return value


def _mask_message(message: BaseMessage) -> BaseMessage:
    update = {"content": mask_value(message.content), "additional_kwargs": mask_value(message.additional_kwargs)}
    if isinstance(message, AIMessage):
        update["tool_calls"] = mask_value(message.tool_calls)
        update["invalid_tool_calls"] = mask_value(message.invalid_tool_calls)
    if all(new is getattr(message, field) for field, new in update.items()):
        return message
    return message.model_copy(update=update)


def add_masked_messages(left: Any, right: Any) -> Any:
    """LangGraph's ``add_messages`` reducer, masking every message it adds: the
    state's ``messages`` channel, so the model never sees what it must not."""
    updates = right if isinstance(right, list) else [right]
    return add_messages(left, [mask_value(m) for m in convert_to_messages(updates)])


def was_masked(text: Any) -> bool:
    return isinstance(text, str) and bool(MASK_MARK.search(text))


def with_notice(reply: BaseMessage, messages: list[BaseMessage]) -> BaseMessage:
    """The final reply, with the short masking notice added once per session:
    when the newest customer message was masked and no earlier reply said so."""
    if not isinstance(reply, AIMessage) or reply.tool_calls or not isinstance(reply.content, str):
        return reply
    newest = next((m for m in reversed(messages) if m.type == "human"), None)
    if newest is None or not was_masked(newest.content):
        return reply
    if any(m.type == "ai" and NOTICE in str(m.content) for m in messages):
        return reply
    return reply.model_copy(update={"content": f"{reply.content} {NOTICE}".strip()})


MASKED_AS_REDUCED = frozenset({"messages"})  # State's channels whose reducer masks (add_masked_messages)


class MaskingSaver(BaseCheckpointSaver):
    """Masks what a saver is given to store: LangGraph saves a run's raw input
    (the ``__start__`` channel) and each node's writes before any reducer runs,
    so masking state alone would leave them in clear. Mixed in above the back
    end's own saver class by ``mask_persisted``, so it fits every back end and
    any serializer (encryption included) underneath, and the saver keeps its
    type (``langgraph dev`` reads its capabilities from the class)."""

    def put(self, config, checkpoint, metadata, new_versions):
        return super().put(config, masked_checkpoint(checkpoint, new_versions), mask_value(metadata), new_versions)

    async def aput(self, config, checkpoint, metadata, new_versions):
        return await super().aput(config, masked_checkpoint(checkpoint, new_versions), mask_value(metadata),
                                  new_versions)

    def put_writes(self, config, writes, task_id, task_path=""):
        return super().put_writes(config, masked_writes(writes), task_id, task_path)

    async def aput_writes(self, config, writes, task_id, task_path=""):
        return await super().aput_writes(config, masked_writes(writes), task_id, task_path)


@functools.cache
def masking_class(kind: type[BaseCheckpointSaver]) -> type[BaseCheckpointSaver]:
    """``kind`` with ``MaskingSaver`` above it."""
    return type(f"Masking{kind.__name__}", (MaskingSaver, kind), {"__module__": kind.__module__})


def masked_checkpoint(checkpoint: dict, new_versions: dict) -> dict:
    values = checkpoint.get("channel_values") or {}
    changed = {name: mask_value(values[name]) for name in new_versions
               if name in values and name not in MASKED_AS_REDUCED}
    return {**checkpoint, "channel_values": {**values, **changed}}


def masked_writes(writes):
    return [(channel, mask_value(value)) for channel, value in writes]


def mask_persisted(saver: BaseCheckpointSaver | None) -> BaseCheckpointSaver | None:
    """``saver``, masking what it stores: a view of the same saver (same state,
    same clients) whose class has ``MaskingSaver`` mixed in; the caller's
    object is left as it was. Idempotent."""
    if saver is None or isinstance(saver, MaskingSaver):
        return saver
    masked = object.__new__(masking_class(type(saver)))
    masked.__dict__ = saver.__dict__
    return masked


class MaskingRecordFactory:
    """A log record factory that masks every record's message, whoever logs it."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's to report, unmasked text is not kept
            return record
        masked = mask(message)
        if masked is not message:
            record.msg, record.args = masked, None
        return record


def mask_logs() -> None:
    """Mask card numbers and secrets in every log record of this process; idempotent."""
    if not isinstance(logging.getLogRecordFactory(), MaskingRecordFactory):
        logging.setLogRecordFactory(MaskingRecordFactory(logging.getLogRecordFactory()))
