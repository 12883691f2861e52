"""ORM objects → Store API JSON. Money leaves here in major units."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

from surecapture.db.models import (
    Address,
    Cart,
    CartLineItem,
    Order,
    OrderLineItem,
    PaymentCollection,
    PaymentSession,
    Product,
    ProductVariant,
    Region,
    ShippingOption,
)
from surecapture.money import to_major
from surecapture.services.catalog import variant_price


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def totals(items: int, shipping: int, currency: str) -> dict[str, Any]:
    """Every total of the contract. Taxes and discounts are zero here, but the fields exist."""
    m = partial(to_major, currency_code=currency)
    subtotal = items + shipping
    zero = m(0)
    return {
        "item_subtotal": m(items),
        "item_tax_total": zero,
        "item_total": m(items),
        "original_item_subtotal": m(items),
        "original_item_tax_total": zero,
        "original_item_total": m(items),
        "shipping_subtotal": m(shipping),
        "shipping_tax_total": zero,
        "shipping_total": m(shipping),
        "original_shipping_subtotal": m(shipping),
        "original_shipping_tax_total": zero,
        "original_shipping_total": m(shipping),
        "discount_total": zero,
        "discount_subtotal": zero,
        "discount_tax_total": zero,
        "gift_card_total": zero,
        "gift_card_tax_total": zero,
        "credit_line_total": zero,
        "subtotal": m(subtotal),
        "tax_total": zero,
        "total": m(subtotal),
        "original_subtotal": m(subtotal),
        "original_tax_total": zero,
        "original_total": m(subtotal),
    }


def address_view(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {
        "id": address.id,
        "first_name": address.first_name,
        "last_name": address.last_name,
        "company": address.company,
        "address_1": address.address_1,
        "address_2": address.address_2,
        "city": address.city,
        "postal_code": address.postal_code,
        "country_code": address.country_code,
        "province": address.province,
        "phone": address.phone,
        "metadata": address.metadata_,
    }


def region_view(region: Region) -> dict[str, Any]:
    return {
        "id": region.id,
        "name": region.name,
        "currency_code": region.currency_code,
        "automatic_taxes": region.automatic_taxes,
        "metadata": region.metadata_,
        "countries": [
            {
                "iso_2": c.iso_2,
                "iso_3": c.iso_3,
                "name": c.name,
                "display_name": c.display_name,
                "region_id": region.id,
            }
            for c in region.countries
        ],
        "created_at": iso(region.created_at),
        "updated_at": iso(region.updated_at),
    }


def variant_view(
    variant: ProductVariant, *, currency: str | None, with_inventory: bool
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": variant.id,
        "title": variant.title,
        "sku": variant.sku,
        "product_id": variant.product_id,
        "manage_inventory": variant.manage_inventory,
        "allow_backorder": variant.allow_backorder,
        "options": [
            {
                "id": value.id,
                "value": value.value,
                "option_id": value.option_id,
                "option": {"id": value.option.id, "title": value.option.title},
            }
            for value in variant.options
        ],
    }
    if with_inventory:
        view["inventory_quantity"] = variant.inventory_quantity
    if currency is not None:
        amount = variant_price(variant, currency)
        view["calculated_price"] = (
            None
            if amount is None
            else {
                "id": f"{variant.id}_{currency}",
                "calculated_amount": to_major(amount, currency),
                "original_amount": to_major(amount, currency),
                "currency_code": currency,
                "is_calculated_price_tax_inclusive": False,
                "is_original_price_tax_inclusive": False,
            }
        )
    return view


def product_view(product: Product, *, currency: str | None, with_inventory: bool) -> dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "subtitle": product.subtitle,
        "description": product.description,
        "handle": product.handle,
        "thumbnail": product.thumbnail,
        "status": product.status,
        "options": [
            {
                "id": option.id,
                "title": option.title,
                "product_id": option.product_id,
                "values": [
                    {"id": value.id, "value": value.value, "option_id": option.id}
                    for value in option.values
                ],
            }
            for option in product.options
        ],
        "images": [],
        "tags": [],
        "collection": None,
        "collection_id": None,
        "type": None,
        "type_id": None,
        "variants": [
            variant_view(v, currency=currency, with_inventory=with_inventory)
            for v in product.variants
        ],
        "created_at": iso(product.created_at),
        "updated_at": iso(product.updated_at),
    }


def shipping_option_view(option: ShippingOption, currency: str) -> dict[str, Any]:
    return {
        "id": option.id,
        "name": option.name,
        "price_type": option.price_type,
        "amount": to_major(option.amount or 0, currency),
        "is_tax_inclusive": False,
        "provider_id": option.provider_id,
        "service_zone_id": f"serzo_{option.region_id}",
        "shipping_profile_id": "sp_default",
        "data": option.data,
        "type": {
            "id": "sotype_standard",
            "label": "Standard",
            "description": "Flat rate",
            "code": "standard",
        },
        "provider": {"id": option.provider_id, "is_enabled": True},
        "rules": [],
    }


def session_view(session: PaymentSession, collection_id: str) -> dict[str, Any]:
    return {
        "id": session.id,
        "provider_id": session.provider_id,
        "amount": to_major(session.amount, session.currency_code),
        "currency_code": session.currency_code,
        "status": session.status,
        "data": session.data,
        "context": session.context,
        "authorized_at": iso(session.authorized_at),
        "payment_collection_id": collection_id,
    }


def collection_view(collection: PaymentCollection | None) -> dict[str, Any] | None:
    if collection is None:
        return None
    return {
        "id": collection.id,
        "currency_code": collection.currency_code,
        "amount": to_major(collection.amount, collection.currency_code),
        "status": collection.status,
        "payment_sessions": [session_view(s, collection.id) for s in collection.payment_sessions],
    }


def _line(item: CartLineItem | OrderLineItem, currency: str) -> dict[str, Any]:
    line_total = item.unit_price * item.quantity
    m = partial(to_major, currency_code=currency)
    return {
        "id": item.id,
        "title": item.title,
        "thumbnail": item.thumbnail,
        "quantity": item.quantity,
        "unit_price": m(item.unit_price),
        "is_tax_inclusive": False,
        "requires_shipping": item.requires_shipping,
        "variant_id": item.variant_id,
        "product_id": item.product_id,
        "product_title": item.product_title,
        "variant_title": item.variant_title,
        "variant_sku": item.variant_sku,
        "metadata": item.metadata_,
        "tax_lines": [],
        "adjustments": [],
        "subtotal": m(line_total),
        "total": m(line_total),
        "original_total": m(line_total),
        "item_subtotal": m(line_total),
        "item_total": m(line_total),
        "tax_total": m(0),
        "discount_total": m(0),
        "product": {
            "id": item.product_id,
            "title": item.product_title,
            "thumbnail": item.thumbnail,
        },
        "variant": {
            "id": item.variant_id,
            "title": item.variant_title,
            "sku": item.variant_sku,
            "product_id": item.product_id,
            "product": {"id": item.product_id, "title": item.product_title},
        },
    }


def _methods(methods: Iterable[Any], currency: str) -> list[dict[str, Any]]:
    return [
        {
            "id": method.id,
            "shipping_option_id": method.shipping_option_id,
            "name": method.name,
            "amount": to_major(method.amount, currency),
            "is_tax_inclusive": False,
            "data": method.data,
            "tax_lines": [],
            "adjustments": [],
        }
        for method in methods
    ]


def cart_view(cart: Cart) -> dict[str, Any]:
    currency = cart.currency_code
    items = sum(item.unit_price * item.quantity for item in cart.items)
    shipping = sum(method.amount for method in cart.shipping_methods)
    return {
        "id": cart.id,
        "currency_code": currency,
        "email": cart.email,
        "region_id": cart.region_id,
        "sales_channel_id": cart.sales_channel_id,
        "customer_id": cart.customer_id,
        "created_at": iso(cart.created_at),
        "updated_at": iso(cart.updated_at),
        "completed_at": iso(cart.completed_at),
        "metadata": cart.metadata_,
        **totals(items, shipping, currency),
        "region": region_view(cart.region),
        "customer": {"id": cart.customer.id, "email": cart.customer.email}
        if cart.customer
        else None,
        "items": [_line(item, currency) for item in cart.items],
        "shipping_methods": _methods(cart.shipping_methods, currency),
        "shipping_address": address_view(cart.shipping_address),
        "billing_address": address_view(cart.billing_address),
        "promotions": [],
        "payment_collection": collection_view(cart.payment_collection),
    }


def order_view(order: Order) -> dict[str, Any]:
    currency = order.currency_code
    captured = order.captured_amount or 0
    collection = collection_view(order.payment_collection)
    if collection is not None:
        collection["payments"] = [
            {
                "id": p.id,
                "amount": to_major(p.amount, p.currency_code),
                "currency_code": p.currency_code,
                "provider_id": p.provider_id,
                "captured_at": iso(p.captured_at),
                "canceled_at": iso(p.canceled_at),
            }
            for p in order.payments
        ]
    return {
        "id": order.id,
        "display_id": order.display_id,
        "status": order.status,
        "email": order.email,
        "currency_code": currency,
        "region_id": order.region_id,
        "sales_channel_id": order.sales_channel_id,
        "customer_id": order.customer_id,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
        **totals(order.item_subtotal, order.shipping_subtotal, currency),
        "summary": {
            "current_order_total": to_major(order.total, currency),
            "original_order_total": to_major(order.total, currency),
            "paid_total": to_major(captured, currency),
            "refunded_total": to_major(0, currency),
            "pending_difference": to_major(order.total - captured, currency),
        },
        "items": [
            {
                **_line(item, currency),
                "detail": {"quantity": item.quantity, "fulfilled_quantity": 0},
            }
            for item in order.items
        ],
        "shipping_methods": _methods(order.shipping_methods, currency),
        "shipping_address": address_view(order.shipping_address),
        "billing_address": address_view(order.billing_address),
        "payment_collections": [collection] if collection else [],
        "fulfillment_status": "not_fulfilled",
        "payment_status": order.payment_status,
        "capture_due_at": iso(order.capture_due_at),
        "captured_at": iso(order.captured_at),
        "captured_amount": None if order.captured_amount is None else to_major(captured, currency),
        "metadata": order.metadata_,
    }
