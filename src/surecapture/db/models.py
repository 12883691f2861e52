"""SQLAlchemy 2 models. Money columns are integer minor units; ids are prefixed ULIDs."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named so that checkout can tell a payment reused for a second order from other conflicts.
PAYMENT_ONCE = "uq_orders_payment_reference"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, datetime: DateTime(timezone=True)}  # noqa: RUF012


def table(model: type[Base]) -> Table:
    """A model's Core table, for statements that skip the ORM's unit of work."""
    return typing.cast(Table, model.__table__)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=text("now()")
    )


publishable_key_sales_channels = Table(
    "publishable_key_sales_channels",
    Base.metadata,
    Column(
        "publishable_key_id",
        ForeignKey("publishable_keys.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "sales_channel_id", ForeignKey("sales_channels.id", ondelete="CASCADE"), primary_key=True
    ),
)

product_sales_channels = Table(
    "product_sales_channels",
    Base.metadata,
    Column("product_id", ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "sales_channel_id", ForeignKey("sales_channels.id", ondelete="CASCADE"), primary_key=True
    ),
)


variant_option_values = Table(
    "variant_option_values",
    Base.metadata,
    Column("variant_id", ForeignKey("product_variants.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "option_value_id",
        ForeignKey("product_option_values.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)


class Store(Base):
    """The single store: its defaults."""

    __tablename__ = "stores"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str]
    default_region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"))
    default_sales_channel_id: Mapped[str | None] = mapped_column(ForeignKey("sales_channels.id"))


class SalesChannel(Timestamped, Base):
    __tablename__ = "sales_channels"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str]


class PublishableKey(Timestamped, Base):
    __tablename__ = "publishable_keys"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    token: Mapped[str] = mapped_column(String, unique=True)
    title: Mapped[str]
    revoked_at: Mapped[datetime | None]
    sales_channels: Mapped[list[SalesChannel]] = relationship(
        secondary=publishable_key_sales_channels, lazy="selectin"
    )


class Region(Timestamped, Base):
    __tablename__ = "regions"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str]
    currency_code: Mapped[str] = mapped_column(String(3))
    automatic_taxes: Mapped[bool] = mapped_column(default=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    countries: Mapped[list[Country]] = relationship(lazy="selectin", order_by="Country.iso_2")


class Country(Base):
    __tablename__ = "countries"
    iso_2: Mapped[str] = mapped_column(String(2), primary_key=True)
    iso_3: Mapped[str] = mapped_column(String(3))
    name: Mapped[str]
    display_name: Mapped[str]
    region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"), index=True)


class Product(Timestamped, Base):
    __tablename__ = "products"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    title: Mapped[str]
    handle: Mapped[str] = mapped_column(String, unique=True)
    subtitle: Mapped[str | None]
    description: Mapped[str | None] = mapped_column(Text)
    thumbnail: Mapped[str | None]
    status: Mapped[str] = mapped_column(default="published")
    variants: Mapped[list[ProductVariant]] = relationship(
        back_populates="product", lazy="selectin", order_by="ProductVariant.id"
    )
    sales_channels: Mapped[list[SalesChannel]] = relationship(
        secondary=product_sales_channels, lazy="selectin"
    )
    # Loaded only where the catalog is shown (catalog.list_products), never in checkout.
    options: Mapped[list[ProductOption]] = relationship(lazy="raise", order_by="ProductOption.id")


class ProductOption(Base):
    """An option of a product (e.g. Size); storefronts pick a variant by its option values."""

    __tablename__ = "product_options"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str]
    values: Mapped[list[ProductOptionValue]] = relationship(
        back_populates="option", lazy="raise", order_by="ProductOptionValue.id"
    )


class ProductOptionValue(Base):
    __tablename__ = "product_option_values"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    option_id: Mapped[str] = mapped_column(
        ForeignKey("product_options.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str]
    option: Mapped[ProductOption] = relationship(back_populates="values", lazy="raise")


class ProductVariant(Timestamped, Base):
    __tablename__ = "product_variants"
    __table_args__ = (CheckConstraint("inventory_quantity >= 0", name="inventory_not_negative"),)
    id: Mapped[str] = mapped_column(String, primary_key=True)
    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str]
    sku: Mapped[str | None] = mapped_column(String, unique=True)
    manage_inventory: Mapped[bool] = mapped_column(default=False)
    allow_backorder: Mapped[bool] = mapped_column(default=False)
    requires_shipping: Mapped[bool] = mapped_column(default=True)
    inventory_quantity: Mapped[int] = mapped_column(default=0)
    product: Mapped[Product] = relationship(back_populates="variants", lazy="joined")
    prices: Mapped[list[VariantPrice]] = relationship(lazy="selectin")
    options: Mapped[list[ProductOptionValue]] = relationship(
        secondary=variant_option_values, lazy="raise", order_by="ProductOptionValue.id"
    )


class VariantPrice(Base):
    __tablename__ = "variant_prices"
    __table_args__ = (
        UniqueConstraint("variant_id", "currency_code", name="variant_currency"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )
    id: Mapped[str] = mapped_column(String, primary_key=True)
    variant_id: Mapped[str] = mapped_column(ForeignKey("product_variants.id", ondelete="CASCADE"))
    currency_code: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)


class ShippingOption(Timestamped, Base):
    __tablename__ = "shipping_options"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str]
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"), index=True)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    price_type: Mapped[str] = mapped_column(default="flat")
    provider_id: Mapped[str] = mapped_column(default="manual_manual")
    is_return: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any] | None]


class Customer(Timestamped, Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    email: Mapped[str] = mapped_column(String, unique=True)
    has_account: Mapped[bool] = mapped_column(default=False)


class Address(Timestamped, Base):
    __tablename__ = "addresses"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    first_name: Mapped[str | None]
    last_name: Mapped[str | None]
    phone: Mapped[str | None]
    company: Mapped[str | None]
    address_1: Mapped[str | None]
    address_2: Mapped[str | None]
    city: Mapped[str | None]
    country_code: Mapped[str | None]
    province: Mapped[str | None]
    postal_code: Mapped[str | None]
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")


class Cart(Timestamped, Base):
    __tablename__ = "carts"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"))
    currency_code: Mapped[str] = mapped_column(String(3))
    email: Mapped[str | None]
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    sales_channel_id: Mapped[str | None] = mapped_column(ForeignKey("sales_channels.id"))
    shipping_address_id: Mapped[str | None] = mapped_column(ForeignKey("addresses.id"))
    billing_address_id: Mapped[str | None] = mapped_column(ForeignKey("addresses.id"))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    completed_at: Mapped[datetime | None]

    region: Mapped[Region] = relationship(lazy="selectin")
    customer: Mapped[Customer | None] = relationship(lazy="selectin")
    shipping_address: Mapped[Address | None] = relationship(
        foreign_keys=[shipping_address_id], lazy="selectin"
    )
    billing_address: Mapped[Address | None] = relationship(
        foreign_keys=[billing_address_id], lazy="selectin"
    )
    items: Mapped[list[CartLineItem]] = relationship(
        lazy="selectin", order_by="CartLineItem.id", cascade="all, delete-orphan"
    )
    shipping_methods: Mapped[list[CartShippingMethod]] = relationship(
        lazy="selectin", order_by="CartShippingMethod.id", cascade="all, delete-orphan"
    )
    payment_collection: Mapped[PaymentCollection | None] = relationship(lazy="selectin")


class CartLineItem(Timestamped, Base):
    __tablename__ = "cart_line_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)
    id: Mapped[str] = mapped_column(String, primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[str] = mapped_column(ForeignKey("product_variants.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    title: Mapped[str]
    product_title: Mapped[str]
    variant_title: Mapped[str]
    variant_sku: Mapped[str | None]
    thumbnail: Mapped[str | None]
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger)
    requires_shipping: Mapped[bool] = mapped_column(default=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    variant: Mapped[ProductVariant] = relationship(lazy="selectin")


class CartShippingMethod(Timestamped, Base):
    __tablename__ = "cart_shipping_methods"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    shipping_option_id: Mapped[str] = mapped_column(ForeignKey("shipping_options.id"))
    name: Mapped[str]
    amount: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any] | None]


class PaymentCollection(Timestamped, Base):
    __tablename__ = "payment_collections"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"), unique=True)
    currency_code: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(default="not_paid")
    payment_sessions: Mapped[list[PaymentSession]] = relationship(
        lazy="selectin", order_by="PaymentSession.id", cascade="all, delete-orphan"
    )


class PaymentSession(Timestamped, Base):
    __tablename__ = "payment_sessions"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    payment_collection_id: Mapped[str] = mapped_column(
        ForeignKey("payment_collections.id", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[str]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency_code: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(default="pending")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    authorized_at: Mapped[datetime | None]


class Order(Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        # Flagged orders are found through this partial index, so the fallback job's scan costs
        # what the flagged set costs, not what the whole table costs.
        Index(
            "ix_orders_needs_recovery",
            "capture_due_at",
            postgresql_where=text("(metadata ->> 'needs_recovery') = 'true'"),
        ),
        Index("ix_orders_payment_status_due", "payment_status", "capture_due_at"),
        # One payment pays for one order: a storefront-confirmed PaymentIntent sent for a second
        # cart would otherwise make an order whose capture finds the intent already succeeded.
        UniqueConstraint("payment_provider_id", "payment_reference", name=PAYMENT_ONCE),
        CheckConstraint(
            "payment_status IN ('authorized', 'captured', 'canceled', 'capture_failed')",
            name="payment_status_known",
        ),
    )
    id: Mapped[str] = mapped_column(String, primary_key=True)
    display_id: Mapped[int] = mapped_column(Integer, Identity(), unique=True)
    # One order per cart, enforced by the database even under concurrent `complete` calls.
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"), unique=True)
    region_id: Mapped[str] = mapped_column(ForeignKey("regions.id"))
    sales_channel_id: Mapped[str | None] = mapped_column(ForeignKey("sales_channels.id"))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    email: Mapped[str | None]
    currency_code: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(default="pending")
    shipping_address_id: Mapped[str | None] = mapped_column(ForeignKey("addresses.id"))
    billing_address_id: Mapped[str | None] = mapped_column(ForeignKey("addresses.id"))
    item_subtotal: Mapped[int] = mapped_column(BigInteger)
    shipping_subtotal: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", default=dict, server_default=text("'{}'::jsonb")
    )
    payment_collection_id: Mapped[str] = mapped_column(ForeignKey("payment_collections.id"))
    payment_status: Mapped[str] = mapped_column(String, default="authorized")
    payment_provider_id: Mapped[str]
    payment_reference: Mapped[str]
    capture_due_at: Mapped[datetime]
    captured_at: Mapped[datetime | None]
    captured_amount: Mapped[int | None] = mapped_column(BigInteger)
    canceled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=text("now()"), index=True
    )

    shipping_address: Mapped[Address | None] = relationship(
        foreign_keys=[shipping_address_id], lazy="selectin"
    )
    billing_address: Mapped[Address | None] = relationship(
        foreign_keys=[billing_address_id], lazy="selectin"
    )
    items: Mapped[list[OrderLineItem]] = relationship(lazy="selectin", order_by="OrderLineItem.id")
    shipping_methods: Mapped[list[OrderShippingMethod]] = relationship(
        lazy="selectin", order_by="OrderShippingMethod.id"
    )
    payment_collection: Mapped[PaymentCollection] = relationship(lazy="selectin")
    payments: Mapped[list[Payment]] = relationship(lazy="selectin", order_by="Payment.id")


class OrderLineItem(Base):
    __tablename__ = "order_line_items"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[str | None] = mapped_column(ForeignKey("product_variants.id"))
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"))
    title: Mapped[str]
    product_title: Mapped[str]
    variant_title: Mapped[str]
    variant_sku: Mapped[str | None]
    thumbnail: Mapped[str | None]
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger)
    requires_shipping: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class OrderShippingMethod(Base):
    __tablename__ = "order_shipping_methods"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    shipping_option_id: Mapped[str | None] = mapped_column(ForeignKey("shipping_options.id"))
    name: Mapped[str]
    amount: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any] | None]


class Payment(Timestamped, Base):
    """A provider authorization made for an order's payment collection."""

    __tablename__ = "payments"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    payment_collection_id: Mapped[str] = mapped_column(ForeignKey("payment_collections.id"))
    payment_session_id: Mapped[str] = mapped_column(ForeignKey("payment_sessions.id"))
    provider_id: Mapped[str]
    reference: Mapped[str]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency_code: Mapped[str] = mapped_column(String(3))
    captured_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]


class SystemPaymentOperation(Base):
    """The ledger of the built-in `system` provider: what it authorized, captured and voided.

    The unique idempotency key makes a retried capture a no-op instead of a second charge.
    """

    __tablename__ = "system_payment_operations"
    __table_args__ = (
        CheckConstraint("kind IN ('authorize', 'capture', 'cancel')", name="kind_known"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reference: Mapped[str] = mapped_column(String, index=True)
    kind: Mapped[str]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency_code: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str] = mapped_column(String, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class Capture(Base):
    """One successful capture. `order_id` is unique: a second capture of an order cannot be
    recorded, whatever path tries."""

    __tablename__ = "captures"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    provider_id: Mapped[str]
    reference: Mapped[str]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency_code: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class AppSecret(Base):
    """Secrets every instance must share (e.g. the key that signs order modification tokens),
    made once by whichever instance needs one first."""

    __tablename__ = "app_secrets"
    name: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
