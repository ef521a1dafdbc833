"""Record shoppers' marketing consents, apart from the order messages' consents, and log every change to them.

정보통신망법 제50조 asks for a prior consent to advertising per medium, a separate one for 21:00-08:00, a withdrawal
that works at once, and the consent's status confirmed to the shopper every two years (시행령 제62조의3). A consent
is a row while it stands (withdrawal deletes it); the log is the proof of each grant, withdrawal and confirmation,
and has no foreign key, so that it outlives the account's erasure.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "marketing_consents",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("granted_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("confirmed_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.CheckConstraint(
            "channel IN ('sms', 'line', 'talktalk', 'instagram', 'night')",
            name=op.f("ck_marketing_consents_channel_known"),
        ),
        sa.CheckConstraint("source IN ('app', 'chat', 'link')", name=op.f("ck_marketing_consents_source_known")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_marketing_consents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "channel", name=op.f("pk_marketing_consents")),
    )
    op.create_index("ix_marketing_consents_confirmed_at", "marketing_consents", ["confirmed_at"], unique=False)
    op.create_table(
        "marketing_consent_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=9), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.CheckConstraint(
            "channel IN ('sms', 'line', 'talktalk', 'instagram', 'night')",
            name=op.f("ck_marketing_consent_log_channel_known"),
        ),
        sa.CheckConstraint(
            "action IN ('granted', 'withdrawn', 'confirmed')", name=op.f("ck_marketing_consent_log_action_known")
        ),
        sa.CheckConstraint(
            "source IN ('app', 'chat', 'link', 'notice')", name=op.f("ck_marketing_consent_log_source_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_consent_log")),
    )
    op.create_index("ix_marketing_consent_log_user_id_id", "marketing_consent_log", ["user_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_marketing_consent_log_user_id_id", table_name="marketing_consent_log")
    op.drop_table("marketing_consent_log")
    op.drop_index("ix_marketing_consents_confirmed_at", table_name="marketing_consents")
    op.drop_table("marketing_consents")
