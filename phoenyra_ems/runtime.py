"""Wiring: build a site's controller (device, prices, history) from its configuration."""

from __future__ import annotations

from datetime import timedelta

from phoenyra_ems.clock import Clock
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.devices.modbus_driver import ModbusDevice
from phoenyra_ems.history.store import HistoryStore, database_path
from phoenyra_ems.prices import FilePriceProvider, NoPrices, PriceProvider, ReplayPriceProvider


def price_provider(site: SiteConfig) -> PriceProvider:
    """``none``: no prices; ``file``: the site's CSV; ``simulator``: real 2024 AT prices replayed."""
    if site.ems.price_source == "none":
        return NoPrices()
    if site.ems.price_source == "file" and site.ems.price_file:
        return FilePriceProvider(site.ems.price_file)
    return ReplayPriceProvider("at")


def build_controller(site: SiteConfig, clock: Clock) -> SiteController:
    """A ready-to-start controller for ``site`` talking Modbus TCP to its device."""
    device = ModbusDevice(site.modbus, site.bess, clock)
    history = HistoryStore(
        database_path(site.ems.history_dir, site.site_id),
        retention=timedelta(days=site.ems.history_retention_days),
        flush_interval_s=site.ems.history_flush_s,
    )
    return SiteController(site, device, clock, price_provider(site), history)
