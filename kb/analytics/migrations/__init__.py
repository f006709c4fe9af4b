"""Alembic migrations of the analytics store (applied by kb.analytics.store.open_store)."""
