"""Prefixed ULID ids (`cart_01J…`), the shape Medusa uses."""

from ulid import ULID


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"
