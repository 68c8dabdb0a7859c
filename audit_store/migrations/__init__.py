"""Alembic migrations of the audit store, shipped inside the package (run by audit_store.schema)."""
