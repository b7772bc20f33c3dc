"""Passwords and bearer secrets (API tokens, invitation tokens).

Tokens look like `obs_<43 base62 chars><6-char checksum>`: the fixed prefix and the CRC32
checksum let secret scanners recognise a leaked token without asking the server. Only a
SHA-256 of each secret is stored. Passwords use argon2id at OWASP's recommended minimum
(19 MiB, 2 iterations, 1 lane) or above.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "obs_"  # noqa: S105 - a public prefix, not a secret
INVITE_PREFIX = "obsinv_"
_ALPHABET = string.digits + string.ascii_letters
_BODY_LEN = 43  # 43 base62 chars carry > 256 bits
_CHECK_LEN = 6

_hasher = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16
)
# Verified against when the e-mail is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_LEN)


def new_secret(prefix: str = TOKEN_PREFIX) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LEN))
    return f"{prefix}{body}{_checksum(body)}"


def looks_valid(secret: str, prefix: str = TOKEN_PREFIX) -> bool:
    """Whether `secret` has the right shape and checksum (cheap; rejects typos before the DB)."""
    if not secret.startswith(prefix) or len(secret) != len(prefix) + _BODY_LEN + _CHECK_LEN:
        return False
    rest = secret[len(prefix) :]
    body, check = rest[:_BODY_LEN], rest[_BODY_LEN:]
    if any(c not in _ALPHABET for c in rest):
        return False
    return hmac.compare_digest(check, _checksum(body))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """The part of a token shown in listings so a user can tell their tokens apart."""
    return secret[: len(TOKEN_PREFIX) + 6]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-work check: an unknown user (no hash) costs as much as a wrong password."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
