"""Site dashboard: power flow, SoC, strategy and its reason, alarms, communication health, the
last hour of power and SoC, and (sites that plan) the next 24 h of the plan against the price."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui.core import format as fmt
from tui.core.history import last_hour_series
from tui.core.plan import plan_line, plan_series
from tui.core.selector import selector_line
from tui.core.store import ConsoleStore
from tui.core.vpp import vpp_banner, vpp_panel
from tui.screens.base import ConsoleScreen
from tui.widgets.charts import PowerChart, SocChart
from tui.widgets.plan_chart import PlanPowerChart, PlanSocChart
from tui.widgets.power_flow import PowerFlow
from tui.widgets.soc_gauge import SocGauge

CHART_MIN_INTERVAL_S = 1.0


class SiteScreen(ConsoleScreen):
    SCREEN_ID = "site"
    SCREEN_TITLE = "Dashboard"

    def compose_body(self) -> ComposeResult:
        banner = Static(id="vpp-banner")
        banner.display = False  # while a VPP event is in progress
        yield banner
        with Horizontal(id="site-top"):
            flow = PowerFlow(id="power-flow")
            flow.border_title = "Power flow"
            yield flow
            with Vertical(id="site-status") as status:
                status.border_title = "Status"
                yield SocGauge(id="soc-gauge")
                yield Static(id="strategy")
        yield Static(id="health")
        yield Static(id="alarms")
        selector = Static(id="selector-line")
        selector.display = False  # until the daemon tells who chooses (GET /selector)
        yield selector
        yield Static(id="plan-line")
        vpp = Static(id="vpp-panel")
        vpp.border_title = "VPP"
        vpp.display = False  # for sites the daemon reports a VPP block for
        yield vpp
        with Horizontal(id="site-charts"):
            yield PowerChart(id="power-chart")
            yield SocChart(id="soc-chart")
        with Horizontal(id="plan-charts"):
            yield PlanPowerChart(id="plan-power-chart")
            yield PlanSocChart(id="plan-soc-chart")

    def __init__(self) -> None:
        super().__init__()
        self._chart_key: tuple[object, ...] | None = None
        self._chart_at = -1e9
        self._plan_key: tuple[object, ...] | None = None

    def on_show_screen(self) -> None:
        self._chart_key = None
        self._plan_key = None

    def show_store(self, store: ConsoleStore) -> None:
        site_id = store.current_site
        state = store.states.get(site_id) if site_id else None
        site = store.sites.get(site_id) if site_id else None
        self.query_one(PowerFlow).show_state(state)
        status = self.query_one("#site-status", Vertical)
        status.border_title = f"{store.site_name(site_id)} · {state.status if state else '-'}"
        soc_min, soc_max = (site.bess.soc_min_pct, site.bess.soc_max_pct) if site else (0.0, 100.0)
        self.query_one(SocGauge).show_soc(state.soc if state else None, soc_min, soc_max)
        strategy = self.query_one("#strategy", Static)
        health = self.query_one("#health", Static)
        alarms = self.query_one("#alarms", Static)
        if state is None or site_id is None:
            strategy.update("")
            health.update("Comm: no data")
            alarms.update("")
        else:
            detail = store.details.get(site_id)
            control = detail.control if detail else None
            expires = (
                f" until {fmt.local_time(control.expires, store.site_zone(site_id), seconds=False)}"
                if control and control.expires
                else ""
            )
            price = "" if state.price is None else f" · {state.price:.0f} EUR/MWh"
            energy = fmt.energy_line(state.energy)
            strategy.update(
                f"{state.mode}{expires} · set {fmt.kw(state.setpoint)} kW{price}\n"
                f"[b]{state.strategy or 'no strategy'}[/b]: {state.strategy_reason or '-'}"
                + (f"\n{energy}" if energy else "")
            )
            level, text = fmt.health(state, store.state_age_s(site_id))
            health.update(f"Comm {text}")
            health.set_classes(f"-{level}")
            alarm_text = "; ".join(f"{a.severity}: {a.code} ({a.message})" for a in state.alarms)
            alarms.update(f"Alarms: {alarm_text or 'none'}")
            alarms.set_class(bool(state.alarms), "-active")
        self._draw_vpp(store)
        self._draw_selector(store)
        self._draw_charts(store)
        self._draw_plan(store)

    def _draw_vpp(self, store: ConsoleStore) -> None:
        """The event banner (an event in progress) and the VPP panel (a site with a VPP block)."""
        site_id = store.current_site
        state = store.states.get(site_id) if site_id else None
        vpp = state.vpp if state is not None else None
        for widget_id, text in (("#vpp-banner", vpp_banner(vpp)), ("#vpp-panel", vpp_panel(vpp))):
            widget = self.query_one(widget_id, Static)
            if widget.display != (text is not None):
                widget.display = text is not None
            if text is not None:
                widget.update(text)

    def _draw_selector(self, store: ConsoleStore) -> None:
        """Who chose the strategy and the A/B tally; hidden until the daemon told (GET /selector)."""
        site_id = store.current_site
        status = store.selectors.get(site_id) if site_id else None
        line = self.query_one("#selector-line", Static)
        if line.display != (status is not None):
            line.display = status is not None
        if status is not None and site_id is not None:
            detail = store.details.get(site_id)
            line.update(selector_line(status, detail.control if detail else None))

    def _draw_charts(self, store: ConsoleStore) -> None:
        site_id = store.current_site
        points = store.series.get(site_id, ()) if site_id else ()
        key = (site_id, len(points), points[-1].timestamp if points else None, self.console.theme)
        now = store.monotonic()
        if key == self._chart_key:
            return
        same_site = self._chart_key is not None and self._chart_key[0] == site_id
        if same_site and now - self._chart_at < CHART_MIN_INTERVAL_S:
            return  # charts redraw at most once a second (plotext is the costly part)
        self._chart_key, self._chart_at = key, now
        series = last_hour_series(points)
        xlim = (-60.0, 0.0)
        self.query_one(PowerChart).show_series(series, "Power kW, last hour", "min", xlim)
        self.query_one(SocChart).show_series(series, "SoC %, last hour", "min", xlim)

    def _draw_plan(self, store: ConsoleStore) -> None:
        """The plan's line and, for a site with a plan, its charts (redrawn when the plan or the
        plan step under way changes)."""
        site_id = store.current_site
        site = store.sites.get(site_id) if site_id else None
        site_plan = store.plans.get(site_id) if site_id else None
        state = store.states.get(site_id) if site_id else None
        self.query_one("#plan-line", Static).update(plan_line(site, site_plan))
        now = state.timestamp if state is not None else None
        series = plan_series(site_plan, now) if now is not None else None
        charts = self.query_one("#plan-charts", Horizontal)
        charts.display = series is not None and not series.empty
        if series is None or series.empty:
            return
        minute = int(now.timestamp() // 60) if now is not None else None  # x is "hours from now"
        key = (site_id, site_plan, minute, self.console.theme)
        if key == self._plan_key:
            return
        self._plan_key = key
        self.query_one(PlanPowerChart).show_plan(series)
        self.query_one(PlanSocChart).show_plan(series)
