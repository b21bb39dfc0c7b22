"""The tables of mlship: one SQLAlchemy metadata for all of them.

Changing a table means adding an Alembic migration in ``store/migrations/versions`` and bumping
:data:`SCHEMA_REVISION`; a test checks that the migrations build exactly this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA_REVISION = "0005"
"""The Alembic revision this code expects; the store is migrated to it on open."""

metadata = sa.MetaData()

Json = sa.JSON().with_variant(JSONB(), "postgresql")

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The highest version number ever handed out: versions are never reused, even when archived.
    sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
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

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("details", Json, nullable=False),
    sa.Index("ix_events_model_at", "model", "at"),
)

check_runs = sa.Table(
    "check_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("baseline", sa.String(250), nullable=True),
    sa.Column("data_fingerprint", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("report", Json, nullable=False),
    sa.Index("ix_check_runs_model_version", "model_id", "version", "kind"),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False, unique=True),
    sa.Column("stable_version", sa.Integer, nullable=False),
    sa.Column("candidate_version", sa.Integer, nullable=True),
    sa.Column("strategy", sa.String(20), nullable=True),
    sa.Column("state", sa.String(30), nullable=False, server_default="idle"),
    # Share of traffic (0..1) routed to the candidate.
    sa.Column("traffic", sa.Float, nullable=False, server_default="0"),
    sa.Column("config", Json, nullable=False),
    # Bumped on every change, so that replicas poll one integer to see that something moved.
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("inputs", Json, nullable=False),
    sa.Column("outputs", Json, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    # A classifier's probabilities, one row per input row in ``classes`` order (revision 0004).
    sa.Column("scores", Json, nullable=True),
    # The request's routing key, the model call's time and the rest of the model path's (0005).
    sa.Column("routing_key", sa.String(200), nullable=True),
    sa.Column("model_ms", sa.Float, nullable=True),
    sa.Column("batch_wait_ms", sa.Float, nullable=True),
    sa.Index("ix_predictions_model_at", "model", "at"),
    sa.Index("ix_predictions_request_id", "request_id"),
)
PREDICTION_FIELDS: tuple[str, ...] = tuple(c.name for c in predictions.columns if c.name != "id")
"""What one logged prediction fills in ``predictions``, in table order (all but the ``id``)."""

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("label", Json, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_feedback_model_request", "model", "request_id"),
)
