"""Alembic environment: runs on the engine the service hands over.

The configuration is built in code by :func:`service.db.alembic_config`, which
puts the engine in ``config.attributes["engine"]``; there is no alembic.ini and
no logging set-up here (the service and the command line own logging).
"""

from __future__ import annotations

from alembic import context

from service.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters tables by copying them; batch mode does that
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
