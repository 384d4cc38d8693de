"""Per-site history on SQLite (aiosqlite): one database file per site."""

from phoenyra_ems.history.store import HistoryRecord, HistoryStore

__all__ = ["HistoryRecord", "HistoryStore"]
