"""What a publishable key lets a storefront see."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyScope:
    key_id: str
    sales_channel_ids: tuple[str, ...]
