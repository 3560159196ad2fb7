"""The issuer's database (SQLAlchemy 2.x): SQLite by default, PostgreSQL by URL."""

from anchor.store.schema import Base
from anchor.store.store import Store

__all__ = ["Base", "Store"]
