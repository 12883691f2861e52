"""Order modification tokens: proof, held by the customer who placed the order, that allows a
cancel within the grace window. HMAC-signed, bound to the order id, expiring at the order's
capture due time. The signing key lives in Postgres so every instance shares it."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from surecapture.db.models import AppSecret
from surecapture.errors import Unauthorized

SECRET_NAME = "order_modification_key"
_EXPIRY = re.compile(r"[0-9]{1,12}")


async def signing_key(db: async_sessionmaker[AsyncSession]) -> bytes:
    async with db.begin() as session:
        await session.execute(
            insert(AppSecret)
            .values(name=SECRET_NAME, value=secrets.token_hex(32))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = await session.scalar(select(AppSecret.value).where(AppSecret.name == SECRET_NAME))
    assert value is not None
    return bytes.fromhex(value)


def issue(key: bytes, order_id: str, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{expires}.{_mac(key, order_id, expires)}"


def verify(key: bytes, order_id: str, token: str | None, *, now: datetime | None = None) -> None:
    """Raise `Unauthorized` unless `token` was issued for `order_id` and has not expired."""
    now = now or datetime.now(UTC)
    expires_text, _, mac = (token or "").partition(".")
    # The token comes from a header: only ASCII digits of a sane length are an expiry (int()
    # also takes other scripts' digits, and refuses very long ones), and the signature is
    # compared as bytes (compare_digest refuses non-ASCII text).
    if not _EXPIRY.fullmatch(expires_text) or not hmac.compare_digest(
        mac.encode(), _mac(key, order_id, int(expires_text)).encode()
    ):
        raise Unauthorized("Invalid order modification token")
    if now.timestamp() >= int(expires_text):
        raise Unauthorized("The order can no longer be modified: its cancellation window has ended")


def _mac(key: bytes, order_id: str, expires: int) -> str:
    return hmac.new(key, f"{order_id}.{expires}".encode(), hashlib.sha256).hexdigest()
