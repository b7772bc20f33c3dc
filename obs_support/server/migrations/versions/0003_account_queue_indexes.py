"""Client queue indexes lead with the observatory, matching the client scope's conditions.

A client's list is filtered by observatory *and* account (scope.py); with indexes that
started at the account, PostgreSQL preferred the observatory-wide queue index and filtered
out other accounts' rows one by one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_incident_account_queue", table_name="incident")
    op.drop_index("ix_incident_account_updated", table_name="incident")
    op.create_index(
        "ix_incident_account_queue",
        "incident",
        ["observatory_id", "client_account_id", sa.text("priority DESC"), "id"],
    )
    op.create_index(
        "ix_incident_account_updated",
        "incident",
        ["observatory_id", "client_account_id", "updated_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_incident_account_queue", table_name="incident")
    op.drop_index("ix_incident_account_updated", table_name="incident")
    op.create_index(
        "ix_incident_account_queue", "incident", ["client_account_id", sa.text("priority DESC"), "id"]
    )
    op.create_index(
        "ix_incident_account_updated", "incident", ["client_account_id", "updated_at", "id"]
    )
