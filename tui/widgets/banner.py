"""The connection banner: hidden while connected, a clear line when connecting or lost."""

from __future__ import annotations

from textual.widgets import Static

from tui.core.format import short_error
from tui.core.store import Connection, Phase


class ConnectionBanner(Static):
    def show_connection(self, connection: Connection) -> None:
        self.set_class(connection.phase is Phase.CONNECTED, "-hidden")
        self.set_class(connection.phase in (Phase.LOST, Phase.AUTH_FAILED), "-error")
        if connection.phase is Phase.CONNECTED:
            return
        if connection.phase is Phase.CONNECTING:
            text = f"Connecting to {connection.url} …"
        else:  # the actionable part first: at 80 columns the error is what gets cut, not the key
            what = "Token refused" if connection.phase is Phase.AUTH_FAILED else "Connection lost"
            retry = (
                ""
                if connection.retry_in_s is None
                else f" — retry {connection.attempt} in {connection.retry_in_s:.1f} s"
            )
            text = f"⚠ {what}{retry} (r: now) · {short_error(connection.message)}"
        self.update(text)
