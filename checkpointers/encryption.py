"""Encryption at rest for checkpoints: LangGraph's ``EncryptedSerializer`` with AES-GCM.

``BANK_AGENT_ENCRYPTION_KEY`` holds one key, or a comma-separated list whose
first key encrypts new writes; ``BANK_AGENT_ENCRYPTION_OLD_KEYS`` adds keys
that only decrypt. A key is the base64 of 16, 24 or 32 random bytes
(AES-128/192/256), e.g. ``python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"``.
To rotate, put the new key first and keep the old ones listed until every
thread written with them has expired or been deleted.

Each value gets a fresh 96-bit nonce; its stored type reads ``<type>+aesgcm``,
so values written before encryption was turned on still load. Decryption tries
the keys in order (a GCM tag that does not verify means "not this key"), so no
key identifier is stored. The cipher is ``cryptography``'s ``AESGCM``
(OpenSSL), a maintained library, rather than pycryptodome's EAX, which is
what ``EncryptedSerializer.from_pycryptodome_aes`` would give.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from langgraph.checkpoint.serde.base import CipherProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

KEY_VARIABLE = "BANK_AGENT_ENCRYPTION_KEY"
OLD_KEYS_VARIABLE = "BANK_AGENT_ENCRYPTION_OLD_KEYS"
CIPHER_NAME = "aesgcm"
NONCE_BYTES = 12


class EncryptionKeyError(ValueError):
    """A configured key is not the base64 of 16, 24 or 32 bytes. The message
    names the variable and the key's position, never the key."""


class CheckpointDecryptionError(ValueError):
    """No configured key decrypts a stored value (the key that wrote it was
    removed from the list, or the value was tampered with)."""


class RotatingAesGcm(CipherProtocol):
    """AES-GCM with a list of keys: the first encrypts, any of them decrypts."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise EncryptionKeyError("at least one encryption key is needed")
        self._ciphers = [AESGCM(key) for key in keys]

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return CIPHER_NAME, nonce + self._ciphers[0].encrypt(nonce, plaintext, None)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != CIPHER_NAME:
            raise CheckpointDecryptionError(f"unknown cipher {ciphername!r} (expected {CIPHER_NAME!r})")
        nonce, sealed = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, sealed, None)
            except InvalidTag:
                continue
        raise CheckpointDecryptionError(
            f"none of the {len(self._ciphers)} configured keys decrypts this checkpoint value: "
            f"keep the key that wrote it in {OLD_KEYS_VARIABLE}"
        )


def parse_keys(text: str, variable: str) -> list[bytes]:
    """The keys in a comma-separated list of base64 strings (blanks ignored)."""
    keys = []
    for position, item in enumerate((s.strip() for s in text.split(",")), start=1):
        if not item:
            continue
        try:
            key = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) not in (16, 24, 32):
            raise EncryptionKeyError(
                f"{variable}: key {position} is not the base64 of 16, 24 or 32 bytes "
                "(AES-128/192/256); generate one with "
                "python -c \"import os,base64;print(base64.b64encode(os.urandom(32)).decode())\""
            )
        keys.append(key)
    return keys


def serializer_from_env(environ: Mapping[str, str] = os.environ) -> EncryptedSerializer | None:
    """The checkpoint serializer the environment asks for: encrypting when
    ``BANK_AGENT_ENCRYPTION_KEY`` is set, else None (savers' own default)."""
    keys = parse_keys(environ.get(KEY_VARIABLE, ""), KEY_VARIABLE)
    old_keys = parse_keys(environ.get(OLD_KEYS_VARIABLE, ""), OLD_KEYS_VARIABLE)
    if not keys:
        if old_keys:
            raise EncryptionKeyError(f"{OLD_KEYS_VARIABLE} is set but {KEY_VARIABLE} is not: "
                                     "set the key new checkpoints are written with")
        return None
    return EncryptedSerializer(RotatingAesGcm(keys + old_keys), JsonPlusSerializer())
