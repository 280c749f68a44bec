"""Alembic environment: runs the migrations on the connection or URL that ``lungseg.web.migrate`` passes."""

from alembic import context
from sqlalchemy import create_engine

from lungseg.web.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic needs a connection or sqlalchemy.url (lungseg.web.migrate passes one)")
    engine = create_engine(url)
    with engine.connect() as opened:
        context.configure(connection=opened, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
