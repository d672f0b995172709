"""SQL metadata: ORM models, engine and sessions, Alembic migrations."""
