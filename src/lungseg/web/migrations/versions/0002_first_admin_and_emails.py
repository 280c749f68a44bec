"""The first-administrator mark (``users.first_admin``, unique: see ``service.register_user``), and email
addresses in their normal form (``schemas.normal_email``: NFKC, then lower-case), as registration and
login now compare them.

An address whose normal form another account already holds (the same address registered twice, in
composed and decomposed form) is left as it was: that account can no longer sign in, the one that
holds the normal form can.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from lungseg.web.schemas import normal_email

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("first_admin", sa.Integer, nullable=True))
    op.create_index("ix_users_first_admin", "users", ["first_admin"], unique=True)
    users = sa.table("users", sa.column("id", sa.String), sa.column("email", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.email)).all()
    taken = {email for _, email in rows}
    for user_id, email in rows:
        normal = normal_email(email)
        if normal != email and normal not in taken:
            connection.execute(users.update().where(users.c.id == user_id).values(email=normal))
            taken.add(normal)


def downgrade() -> None:
    op.drop_index("ix_users_first_admin", "users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("first_admin")
