"""The migrations build exactly the schema the models describe, on both databases.

A model changed without a migration would work in tests that create tables from the models
and fail on a real server upgraded with `obs-support server migrate`; this catches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, Text, create_engine
from sqlmodel import AutoString, SQLModel

import obs_support.server.models  # noqa: F401  (the tables, registered on SQLModel.metadata)
from obs_support.server.migrate import upgrade
from tests.conftest import database_url


@pytest.fixture(params=["sqlite", "postgres"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    for url in database_url(request.param, tmp_path):
        upgrade(url)
        yield url


# Indexes with an expression (`priority DESC`): Alembic cannot compare those, and SQLite
# reflects them as plain column lists. They are created by the migrations all the same.
EXPRESSION_INDEXES = {
    index.name
    for table in SQLModel.metadata.tables.values()
    for index in table.indexes
    if any(not isinstance(e, Column) for e in index.expressions)
}


def _expression_index(diff: Any) -> bool:
    return (
        isinstance(diff, tuple)
        and diff[0] in ("add_index", "remove_index")
        and isinstance(diff[1], Index)
        and diff[1].name in EXPRESSION_INDEXES
    )


def _text_as_autostring(diff: Any) -> bool:
    """SQLModel types an unbounded `str` as AutoString; the migrations say TEXT: the same."""
    if not (isinstance(diff, list) and len(diff) == 1 and diff[0][0] == "modify_type"):
        return False
    old, new = diff[0][-2], diff[0][-1]
    return isinstance(old, Text) and isinstance(new, AutoString) and new.length is None


def test_the_migrated_schema_is_the_models_schema(migrated: str) -> None:
    engine = create_engine(migrated)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            diffs = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    real = [d for d in diffs if not _expression_index(d) and not _text_as_autostring(d)]
    assert real == []
    # The filter hides only these three, which the queues are read by.
    assert {"ix_incident_queue", "ix_incident_account_queue", "ix_incident_status_queue"} == (
        EXPRESSION_INDEXES
    )
