"""Request bodies: strict, unknown fields refused (the contract's validation rules)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from surecapture.services.carts import MAX_QUANTITY

MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 64 * 1024


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    # Stored as it comes and sent back in every answer about the cart or order: a value too
    # deep for the response's serializer would make each of those a 500 from then on.
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if len(json.dumps(value, separators=(",", ":"))) > MAX_JSON_BYTES:
        raise ValueError(f"larger than {MAX_JSON_BYTES} bytes as JSON")
    return value


def _depth(value: Any) -> int:
    """Levels of objects and arrays, iteratively (a recursive walk would hit the interpreter's
    own recursion limit first)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        pending.extend((child, level + 1) for child in children)
    return deepest


# Free-form JSON objects from clients (metadata, provider data), bounded in depth and size.
JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AddressIn(Strict):
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company: str | None = None
    address_1: str | None = None
    address_2: str | None = None
    city: str | None = None
    country_code: str | None = Field(None, max_length=2)
    province: str | None = None
    postal_code: str | None = None
    metadata: JsonObject | None = None


class ItemIn(Strict):
    variant_id: str
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    metadata: JsonObject | None = None


class CartCreate(Strict):
    region_id: str | None = None
    email: str | None = Field(None, max_length=320)
    currency_code: str | None = Field(None, min_length=3, max_length=3)
    sales_channel_id: str | None = None
    items: list[ItemIn] | None = None
    shipping_address: str | AddressIn | None = None
    billing_address: str | AddressIn | None = None
    promo_codes: list[str] | None = None
    metadata: JsonObject | None = None
    additional_data: JsonObject | None = None
    locale: str | None = None


class CartUpdate(Strict):
    region_id: str | None = None
    email: str | None = Field(None, max_length=320)
    sales_channel_id: str | None = None
    shipping_address: str | AddressIn | None = None
    billing_address: str | AddressIn | None = None
    promo_codes: list[str] | None = None
    metadata: JsonObject | None = None
    additional_data: JsonObject | None = None
    locale: str | None = None


class LineItemUpdate(Strict):
    quantity: int = Field(ge=0, le=MAX_QUANTITY)
    metadata: JsonObject | None = None


class ShippingMethodIn(Strict):
    option_id: str
    data: JsonObject | None = None


class PaymentCollectionIn(Strict):
    cart_id: str
    # Older SDK builds send these; tolerated and ignored.
    region_id: str | None = None
    currency_code: str | None = None
    amount: int | float | None = None


class PaymentSessionIn(Strict):
    provider_id: str
    data: JsonObject | None = None
    context: JsonObject | None = None


def cart_fields(body: CartCreate | CartUpdate) -> dict[str, Any]:
    """The fields the caller actually sent, addresses as plain dicts or id strings."""
    return body.model_dump(exclude_unset=True, exclude={"promo_codes", "additional_data", "locale"})
