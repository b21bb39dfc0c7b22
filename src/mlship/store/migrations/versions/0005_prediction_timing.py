"""The prediction log keeps each request's routing key and the model's own time.

``routing_key`` is the key the request was routed by (the canary judges users, not requests, as
its units); ``model_ms`` is the time of the model call that answered the request (with
micro-batching, the merged batch's call) and ``batch_wait_ms`` the rest of the model path (the
wait for a batch and the thread hand-offs).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("routing_key", sa.String(200), nullable=True))
    op.add_column("predictions", sa.Column("model_ms", sa.Float, nullable=True))
    op.add_column("predictions", sa.Column("batch_wait_ms", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("batch_wait_ms")
        batch.drop_column("model_ms")
        batch.drop_column("routing_key")
