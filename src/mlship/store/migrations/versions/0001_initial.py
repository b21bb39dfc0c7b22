"""Registry tables: models, versions, aliases and the event ledger.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="active"),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("artifact_uri", sa.Text, nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_size", sa.BigInteger, nullable=False),
        sa.Column("load_spec", Json, nullable=False),
        sa.Column("signature", Json, nullable=True),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("tags", Json, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("data_fingerprint", sa.String(64), nullable=True),
        sa.Column("data_profile", Json, nullable=True),
        sa.Column("row_count", sa.BigInteger, nullable=True),
        sa.Column("environment", Json, nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("parent_version", sa.Integer, nullable=True),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    )
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("details", Json, nullable=False),
    )
    op.create_index("ix_events_model_at", "events", ["model", "at"])


def downgrade() -> None:
    op.drop_index("ix_events_model_at", table_name="events")
    op.drop_table("events")
    op.drop_table("aliases")
    op.drop_table("model_versions")
    op.drop_table("models")
