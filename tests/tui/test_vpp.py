"""The site dashboard's VPP event banner and panel."""

from __future__ import annotations

from phoenyra_ems.client import VppFlexibility, VppState
from tests.tui.conftest import fixed_store, make_state, wait_for
from tests.tui.test_app import screen_text
from tui.app import PhoenyraConsole
from tui.core.backend import StaticBackend
from tui.core.vpp import duration, vpp_banner, vpp_panel

OFFER = VppFlexibility("wien", 60.0, 100.0, 3600.0, 76.0, 84.2)
ACTIVE = VppState(True, "ev1", 25.0, 20.0, -5.0, 270.0, OFFER, ("limited by grid_export_max",))


def test_lines() -> None:
    assert duration(270) == "4 min 30 s" and duration(3900) == "1 h 05 min" and duration(None) == "-"
    assert vpp_banner(ACTIVE) == "⚡ VPP event ev1: committed +25.0 kW · 4 min 30 s left"
    idle = VppState(False, None, None, 0.0, None, None, OFFER, ())
    assert vpp_banner(idle) is None and vpp_banner(None) is None and vpp_panel(None) is None
    panel = vpp_panel(ACTIVE) or ""
    assert "deviation -5.0 kW" in panel and "limited by grid_export_max" in panel
    assert vpp_panel(idle) == "No VPP event\nOffered for 1 h 00 min: discharge 60.0 kW · charge 100.0 kW"


async def test_the_dashboard_shows_the_banner_only_during_an_event() -> None:
    store = fixed_store()
    app = PhoenyraConsole(StaticBackend(store), start_screen="site")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "VPP event" not in text and "Offered for" not in text  # no VPP block: no banner, no panel
        store.set_state(make_state("wien", 54.2, 20.0, 0.0, 0.0, vpp=ACTIVE))
        app.render_now()
        await wait_for(pilot, lambda: "VPP event ev1" in screen_text(app), what="the banner")
        text = screen_text(app)
        assert "Committed +25.0 kW" in text and "deviation -5.0 kW" in text and "4 min 30 s left" in text
        store.set_state(
            make_state(
                "wien", 54.2, 0.0, 0.0, 0.0, vpp=VppState(False, None, None, 0.0, None, None, OFFER, ())
            )
        )
        app.render_now()
        await wait_for(pilot, lambda: "VPP event ev1" not in screen_text(app), what="the banner to go")
        assert "No VPP event" in screen_text(app)
