"""The prediction log keeps classifiers' probabilities (``scores``) next to their labels.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("predictions", sa.Column("scores", Json, nullable=True))


def downgrade() -> None:
    op.drop_column("predictions", "scores")
