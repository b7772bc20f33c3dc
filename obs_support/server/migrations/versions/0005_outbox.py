"""Outgoing mail, password resets and per-user e-mail preferences.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import obs_support.server.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Stamp = obs_support.server.types.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("email_off", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observatory_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("to_addr", sa.String(length=254), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Stamp(timezone=True), nullable=False),
        sa.Column("lease_until", Stamp(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", Stamp(timezone=True), nullable=False),
        sa.Column("sent_at", Stamp(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["observatory_id"], ["observatory.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at", "id"])
    op.create_index("ix_outbox_observatory_id", "outbox", ["observatory_id"])
    op.create_table(
        "password_reset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", Stamp(timezone=True), nullable=False),
        sa.Column("used_at", Stamp(timezone=True), nullable=True),
        sa.Column("created_at", Stamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_password_reset_user_id", "password_reset", ["user_id"])


def downgrade() -> None:
    op.drop_table("password_reset")
    op.drop_table("outbox")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("email_off")
