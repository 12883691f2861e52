"""Request bodies: strict, unknown fields refused (the contract's validation rules)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from surecapture.services.carts import MAX_QUANTITY


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
    metadata: dict[str, Any] | None = None


class ItemIn(Strict):
    variant_id: str
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    metadata: dict[str, Any] | None = None


class CartCreate(Strict):
    region_id: str | None = None
    email: str | None = Field(None, max_length=320)
    currency_code: str | None = Field(None, min_length=3, max_length=3)
    sales_channel_id: str | None = None
    items: list[ItemIn] | None = None
    shipping_address: str | AddressIn | None = None
    billing_address: str | AddressIn | None = None
    promo_codes: list[str] | None = None
    metadata: dict[str, Any] | None = None
    additional_data: dict[str, Any] | None = None
    locale: str | None = None


class CartUpdate(Strict):
    region_id: str | None = None
    email: str | None = Field(None, max_length=320)
    sales_channel_id: str | None = None
    shipping_address: str | AddressIn | None = None
    billing_address: str | AddressIn | None = None
    promo_codes: list[str] | None = None
    metadata: dict[str, Any] | None = None
    additional_data: dict[str, Any] | None = None
    locale: str | None = None


class LineItemUpdate(Strict):
    quantity: int = Field(ge=0, le=MAX_QUANTITY)
    metadata: dict[str, Any] | None = None


class ShippingMethodIn(Strict):
    option_id: str
    data: dict[str, Any] | None = None


class PaymentCollectionIn(Strict):
    cart_id: str
    # Older SDK builds send these; tolerated and ignored.
    region_id: str | None = None
    currency_code: str | None = None
    amount: int | float | None = None


class PaymentSessionIn(Strict):
    provider_id: str
    data: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


def cart_fields(body: CartCreate | CartUpdate) -> dict[str, Any]:
    """The fields the caller actually sent, addresses as plain dicts or id strings."""
    return body.model_dump(exclude_unset=True, exclude={"promo_codes", "additional_data", "locale"})
