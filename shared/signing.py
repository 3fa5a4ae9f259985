"""Signed messages: an HMAC-SHA256 of every body, so that only holders of the key can change a run.

Whoever can publish to the broker could otherwise start, hijack or falsify a run. Every service
of a deployment holds the same secret (``HZZ_SIGNING_KEY``: a Kubernetes Secret made by
``deploy.sh``; ``hzz run`` makes one per run); the transports sign what they publish and refuse,
into the dead-letter queue with the reason, what arrives unsigned or wrongly signed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from hzz.shared.errors import ConfigError, DecodeError

__all__ = ["SIGNATURE_HEADER", "Signer", "new_key"]

#: The AMQP header (and embedded-transport header) carrying the body's HMAC, in hex.
SIGNATURE_HEADER = "x-hzz-signature"
#: A key shorter than this is refused: a guessable key signs nothing.
MIN_KEY_LENGTH = 16


def new_key() -> str:
    """A fresh random key (256 bits, hex)."""
    return secrets.token_hex(32)


class Signer:
    """Signs and verifies message bodies with one key.

    Args:
        key: the shared secret (``HZZ_SIGNING_KEY``).

    Raises:
        ConfigError: the key is missing or too short.
    """

    def __init__(self, key: str) -> None:
        if len(key) < MIN_KEY_LENGTH:
            what = "empty" if not key else f"{len(key)} characters long"
            msg = (
                f"setting signing_key (HZZ_SIGNING_KEY) is {what}; expected a secret of at least "
                f"{MIN_KEY_LENGTH} characters shared by every service (e.g. `python -c 'import secrets; "
                "print(secrets.token_hex(32))'`)"
            )
            raise ConfigError(msg)
        self._key = key.encode()

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self._key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._key = state["key"]

    def sign(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def headers(self, body: bytes, headers: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``headers`` with the body's signature added."""
        return {**(headers or {}), SIGNATURE_HEADER: self.sign(body)}

    def verify(self, body: bytes, headers: Mapping[str, Any] | None) -> None:
        """Check the body's signature.

        Raises:
            DecodeError: the message is unsigned or its signature does not match (forged, altered,
                or signed with another deployment's key).
        """
        signature = (headers or {}).get(SIGNATURE_HEADER)
        if isinstance(signature, bytes):
            signature = signature.decode("ascii", "replace")
        if not isinstance(signature, str):
            msg = f"unsigned message (no {SIGNATURE_HEADER} header): refused"
            raise DecodeError(msg)
        if not hmac.compare_digest(signature, self.sign(body)):
            msg = "wrongly signed message (forged, altered, or signed with another key): refused"
            raise DecodeError(msg)
