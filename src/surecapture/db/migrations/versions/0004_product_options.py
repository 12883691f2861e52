"""product options

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 08:20:05.572314
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_options",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("product_id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_options_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_options")),
    )
    op.create_index(
        op.f("ix_product_options_product_id"), "product_options", ["product_id"], unique=False
    )
    op.create_table(
        "product_option_values",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("option_id", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["option_id"],
            ["product_options.id"],
            name=op.f("fk_product_option_values_option_id_product_options"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_option_values")),
    )
    op.create_index(
        op.f("ix_product_option_values_option_id"),
        "product_option_values",
        ["option_id"],
        unique=False,
    )
    op.create_table(
        "variant_option_values",
        sa.Column("variant_id", sa.String(), nullable=False),
        sa.Column("option_value_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["option_value_id"],
            ["product_option_values.id"],
            name=op.f("fk_variant_option_values_option_value_id_product_option_values"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["product_variants.id"],
            name=op.f("fk_variant_option_values_variant_id_product_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "variant_id", "option_value_id", name=op.f("pk_variant_option_values")
        ),
    )


def downgrade() -> None:
    op.drop_table("variant_option_values")
    op.drop_index(op.f("ix_product_option_values_option_id"), table_name="product_option_values")
    op.drop_table("product_option_values")
    op.drop_index(op.f("ix_product_options_product_id"), table_name="product_options")
    op.drop_table("product_options")
