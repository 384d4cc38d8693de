"""Who chose the strategy on the dashboard: the AI with its confidence, the scores, the operator's
pin, and the A/B tally with the advantage in EUR; loaded from GET /selector and hidden without it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from textual.widgets import Static

from phoenyra_ems.client import (
    AbAdvantage,
    AbTest,
    ChoiceSource,
    Control,
    Mode,
    SelectionMode,
    SelectorChoice,
    SelectorStatus,
    SelectorSwitching,
)
from tests.tui.conftest import FrozenClock, fixed_backend, wait_for
from tui.app import PhoenyraConsole
from tui.core.connection import ConnectionManager
from tui.core.selector import SELECTOR_POLL_S, chooser, selector_line
from tui.core.store import ConsoleStore

AI = SelectorStatus(
    site_id="wien",
    mode=SelectionMode.AUTO,
    ai_enabled=True,
    trained=True,
    trained_at=datetime(2024, 6, 1, tzinfo=UTC),
    samples=720,
    current=SelectorChoice(strategy="self_consumption", source=ChoiceSource.AI, confidence=0.82),
    feature_importances={},
    ab_test=AbTest(
        enabled=True,
        tally={"ai": {"days": 5, "switches_per_day": 1.2}, "score": {"days": 4, "switches_per_day": 1.75}},
        advantage=AbAdvantage(5, 4, 0.31, -0.1, 0.7, 0.25, None),
    ),
)
AUTO = Control(Mode.AUTO, None, None, None)


def test_the_line_says_who_chose() -> None:
    assert selector_line(AI, AUTO) == (
        "chosen by: AI 82 % · A/B · AI +0.31 EUR/d [-0.10, +0.70] · ai 5 d 1.2 sw/d, score 4 d 1.8 sw/d"
    )
    assert AI.current is not None
    scores = replace(AI.current, source=ChoiceSource.SCORE)
    untrained = replace(AI, trained=False, current=scores, ab_test=AbTest(enabled=False))
    assert selector_line(untrained, AUTO) == "chosen by: scores (AI not trained yet)"
    pinned = Control(Mode.AUTO, "arbitrage", None, None)
    assert selector_line(AI, pinned).startswith("chosen by: operator (pinned arbitrage) · A/B")
    fixed = replace(AI, mode=SelectionMode.FIXED, current=None, ab_test=AbTest(enabled=False))
    assert selector_line(fixed, AUTO) == "chosen by: configuration (selection_mode fixed)"
    assert chooser(AI, Control(Mode.STANDBY, None, None, None)) == "standby"
    assert chooser(None, None) == "score"
    waiting = replace(AI, ab_test=replace(AI.ab_test, advantage=None, tally={}))
    assert selector_line(waiting, AUTO) == "chosen by: AI 82 % · A/B · no days yet"
    stopped = replace(
        untrained,
        trained=True,
        current=replace(AI.current, strategy="optimiser"),
        switching=SelectorSwitching("optimiser", True, True, -0.42, 3, 1),
    )
    assert selector_line(stopped, AUTO) == (
        "chosen by: AI 82 % (stop-loss: switches lost 0.42 EUR, optimiser kept)"
    )
    still_open = replace(stopped, switching=SelectorSwitching("optimiser", True, False, 0.2, 3, 1))
    assert selector_line(still_open, AUTO) == "chosen by: AI 82 %"


class SelectorClient:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def selector(self, site_id: str) -> SelectorStatus:
        self.asked.append(site_id)
        return replace(AI, site_id=site_id)


async def test_the_status_is_read_at_most_every_poll_interval() -> None:
    clock = FrozenClock()
    store = ConsoleStore(monotonic=clock)
    client = SelectorClient()
    manager = ConnectionManager(store, lambda: client)  # type: ignore[arg-type,return-value]
    await manager._load_selector("wien", SELECTOR_POLL_S)
    await manager._load_selector("wien", SELECTOR_POLL_S)  # too soon: not asked again
    clock.now += SELECTOR_POLL_S
    await manager._load_selector("wien", SELECTOR_POLL_S)
    assert client.asked == ["wien", "wien"] and store.selectors["wien"].confidence == 0.82


async def test_the_dashboard_shows_who_chose() -> None:
    backend = fixed_backend()
    app = PhoenyraConsole(backend, start_screen="site")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#selector-line"), timeout=5, what="the dashboard")
        line = app.screen.query_one("#selector-line", Static)
        app.render_now()
        assert not line.display  # the daemon has not told: no line (older daemons)
        backend.store.set_selector(AI)
        app.render_now()
        await pilot.pause(0.05)
        assert line.display and str(line.render()).startswith("chosen by: AI 82 % · A/B · AI +0.31 EUR/d")
