"""Create shoppers' likes and the rolled-up segment scores.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "likes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_likes_product_id_products"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_likes_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "product_id", name=op.f("pk_likes")),
    )
    op.create_index(op.f("ix_likes_product_id"), "likes", ["product_id"], unique=False)
    op.create_index("ix_likes_user_id_created_at", "likes", ["user_id", "created_at"], unique=False)
    op.create_table(
        "segment_scores",
        sa.Column("segment", sa.String(length=24), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("as_of", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_segment_scores_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("segment", "product_id", name=op.f("pk_segment_scores")),
    )
    op.create_index(op.f("ix_segment_scores_product_id"), "segment_scores", ["product_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_segment_scores_product_id"), table_name="segment_scores")
    op.drop_table("segment_scores")
    op.drop_index("ix_likes_user_id_created_at", table_name="likes")
    op.drop_index(op.f("ix_likes_product_id"), table_name="likes")
    op.drop_table("likes")
