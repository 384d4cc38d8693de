"""Site picker: a list of the user's sites; Enter switches, Esc cancels."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.core.store import ConsoleStore


class SitePicker(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="picker_cancel")]

    def __init__(self, store: ConsoleStore) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        options = []
        for n, site_id in enumerate(self.store.site_ids, start=1):
            state = self.store.states.get(site_id)
            status = state.status if state else self.store.sites[site_id].status
            soc = f"{state.soc:.0f} %" if state else "-"
            number = f"{n}" if n <= 9 else " "
            options.append(
                Option(f"{number}  {self.store.site_name(site_id):<16} {status:<8} {soc}", id=site_id)
            )
        with Vertical(id="picker-box") as box:
            box.border_title = "Switch to site"
            yield OptionList(*options, id="picker-list")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        if self.store.current_site in self.store.site_ids:
            option_list.highlighted = self.store.site_ids.index(self.store.current_site)
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
