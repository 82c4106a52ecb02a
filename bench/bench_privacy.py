"""Masking cost and false positives (agent.privacy).

Times ``mask`` on the ordinary banking messages of the test corpus (nothing to
mask: the common case) and on messages that hold card numbers, IBANs, SSNs and
secrets, and counts corpus messages that masking altered (false positives).

    .venv/bin/python bench/bench_privacy.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


from agent.privacy import mask

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "support" / "data" / "banking_messages.txt"
SENSITIVE = [
    "My card 4242 4242 4242 4242 was declined, PIN 9931 is right.",
    "Please move 500 from IBAN GB82 WEST 1234 5698 7654 32 to account number 12345678.",
    "My SSN is 123-45-6789 and the one-time code is 483 920.",
    "The old card 4111-1111-1111-1111 expired on 2024-03-31; my password is Summer2024!",
]


def per_message_us(messages: list[str], rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for message in messages:
            mask(message)
    return (time.perf_counter() - start) / (rounds * len(messages)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    corpus = [line.rstrip("\n") for line in CORPUS.open() if line.strip() and not line.startswith("#")]
    altered = sum(mask(message) != message for message in corpus)
    print("| messages | µs per message (mean) | false positives |")
    print("|---|---:|---:|")
    print(f"| {len(corpus)} ordinary (corpus) | {per_message_us(corpus, args.rounds):.1f} | {altered} / {len(corpus)} |")
    print(f"| {len(SENSITIVE)} with cards, IBANs, SSNs, secrets | {per_message_us(SENSITIVE, args.rounds):.1f} | – |")


if __name__ == "__main__":
    main()
