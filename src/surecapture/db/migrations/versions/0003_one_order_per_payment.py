"""one order per payment

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 07:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_unique_constraint(
        "uq_orders_payment_reference", "orders", ["payment_provider_id", "payment_reference"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_orders_payment_reference", "orders", type_="unique")
