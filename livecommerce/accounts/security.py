"""Password hashing (argon2) and signed bearer tokens (JWT, HS256)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from livecommerce.kit.errors import Unauthorized
from livecommerce.kit.i18n import _l

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): a sixth of the library's
# default cost, which keeps a burst of sign-ins from starving a 2-core server. Hashes record
# their parameters, so hashes made with other settings still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# A hash of a random password, verified against when the user does not exist, so that
# sign-in takes the same time whether or not the username is known.
_DUMMY_HASH = _hasher.hash("no-such-user-timing-equalizer")


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; constant work whether or not a hash exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    """`hash_password` off the event loop (argon2 takes tens of milliseconds of CPU)."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """`verify_password` off the event loop."""
    return await asyncio.to_thread(verify_password, password_hash, password)


def create_access_token(*, user_id: int, token_version: int, secret: str, now: datetime, ttl_seconds: int, kind: str = "access") -> str:
    """A signed token naming the user and the version of their credentials."""
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "ver": token_version,
        "typ": kind,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
    }
    if kind == "refresh":
        # A refresh token is single-use: its id is recorded when it is exchanged.
        payload["jti"] = secrets.token_hex(16)
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_token(token: str, *, secret: str, kind: str = "access") -> dict[str, Any]:
    """The token's claims, or Unauthorized when it is malformed, forged or expired."""
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp", "ver"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(_l("The token has expired; sign in again.")) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(_l("The token is not valid.")) from exc
    if claims.get("typ", "access") != kind or not (str(claims.get("sub", "")).isascii() and str(claims.get("sub", "")).isdigit()):
        raise Unauthorized(_l("The token is not valid."))
    if not isinstance(claims.get("ver"), int) or isinstance(claims.get("ver"), bool):
        raise Unauthorized(_l("The token is not valid."))
    if kind == "refresh" and not isinstance(claims.get("jti"), str):
        raise Unauthorized(_l("The token is not valid."))
    return claims
