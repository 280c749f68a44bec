"""The user's study label on analyses (``analyses.study_label``): one patient's scans, whose nodules can be
compared and whose DICOM dates are shifted by one offset.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("study_label", sa.String(60), nullable=True))
    op.create_index("ix_analyses_study_label", "analyses", ["study_label"])


def downgrade() -> None:
    op.drop_index("ix_analyses_study_label", table_name="analyses")
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("study_label")
