"""Nodules measured at points clicked in the viewer: the ``nodules`` table, and jobs that belong to a
nodule instead of an analysis (``jobs.nodule_id``; ``jobs.analysis_id`` becomes nullable, still unique).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("analysis_id", sa.String(36), sa.ForeignKey("analyses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("x", sa.Integer, nullable=False),
        sa.Column("y", sa.Integer, nullable=False),
        sa.Column("z", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
    )
    op.create_index("ix_nodules_analysis_id", "nodules", ["analysis_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("analysis_id", existing_type=sa.String(36), nullable=True)
        batch.add_column(sa.Column("nodule_id", sa.String(36), nullable=True))
        batch.create_foreign_key("fk_jobs_nodule_id", "nodules", ["nodule_id"], ["id"], ondelete="CASCADE")
        batch.create_unique_constraint("uq_jobs_nodule_id", ["nodule_id"])


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE analysis_id IS NULL")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("uq_jobs_nodule_id", type_="unique")
        batch.drop_constraint("fk_jobs_nodule_id", type_="foreignkey")
        batch.drop_column("nodule_id")
        batch.alter_column("analysis_id", existing_type=sa.String(36), nullable=False)
    op.drop_index("ix_nodules_analysis_id", "nodules")
    op.drop_table("nodules")
