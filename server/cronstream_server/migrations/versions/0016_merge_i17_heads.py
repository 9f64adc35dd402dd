"""merge the two heads of issue 17: worker_sessions (0014) and the recent-runs index (0015)

Revision ID: 0016
Revises: 0014, 0015
Create Date: 2026-12-06 15:10:00

Both were written beside each other from 0013; this empty revision joins
them so that `alembic upgrade head` has one head. It changes nothing.
"""

from collections.abc import Sequence

revision: str = "0016"
down_revision: str | Sequence[str] | None = ("0014", "0015")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
