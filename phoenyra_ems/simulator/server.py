"""The simulator's Modbus TCP side: serves any of our profiles from the physics model.

The register image (:class:`RegisterImage`) is built from the same ``RegisterMap`` the driver uses,
so both sides share one source of truth. pymodbus calls ``_on_access`` on every request: reads
refresh the image from the physics, setpoint writes are decoded into a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from phoenyra_ems.clock import Clock, SystemClock
from phoenyra_ems.core.battery import BatteryModel, BatteryState
from phoenyra_ems.devices.codec import RegisterMap, resolve_profile
from phoenyra_ems.devices.registers import encode_point
from phoenyra_ems.devices.sunspec import DEFAULT_MODELS, layout_sunspec_models
from phoenyra_ems.profiles.loader import apply_parameters, load_profile
from phoenyra_ems.simulator.image import RegisterImage
from phoenyra_ems.simulator.site_model import SiteModel

LOG = logging.getLogger(__name__)

FAULTS = ("hang", "error")  # a register that never answers / answers with an exception
SENSOR_DEFAULTS = {"humidity": 55.0, "temperature": 25.0}  # by the start of a named register's name

# SunSpec model sets a simulated device can advertise (profile "sunspec"); any tuple of shipped
# model ids works too. Each set has a SoC, a battery power and a control model.
SUNSPEC_LAYOUTS: dict[str, tuple[int, ...]] = {
    "all": DEFAULT_MODELS,  # 1, 124, 704, 713, 714, 802: 124 control, OutWRte base from 802
    "802+704": (1, 704, 802),  # battery model, DER control in watts
    "713+704": (1, 701, 704, 713),  # DER without 802: SoC from 713, power from 701 W
    "124-only": (1, 103, 124),  # classic storage: SoC from ChaState, power from 103 W
    "713+714": (1, 124, 702, 713, 714),  # no 802: power from 714 DCW, OutWRte base from 702
}


@dataclass(frozen=True)
class SimulatorConfig:
    profile: str = "generic"
    host: str = "127.0.0.1"
    port: int = 5020
    unit_id: int = 1
    capacity_kwh: float = 10.0
    charge_max_kw: float = 5.0
    discharge_max_kw: float = 5.0
    efficiency_charge: float = 0.95
    efficiency_discharge: float = 0.95
    soc_pct: float = 50.0
    pv_peak_kw: float = 8.0
    load_kind: str = "household"
    annual_load_mwh: float = 6.0
    revert_timeout_s: float | None = 60.0
    # SunSpec profile only: the models the device advertises (a SUNSPEC_LAYOUTS name or model
    # ids, placed back to back after the marker at 40000); None: all of DEFAULT_MODELS
    sunspec_models: str | tuple[int, ...] | None = None
    # the profile's parameters, as a site's ``modbus.parameters`` (the registers are encoded with them)
    parameters: Mapping[str, float] = field(default_factory=dict)


class BatterySimulator:
    """A pymodbus TCP server on loopback that behaves like a battery site."""

    def __init__(self, config: SimulatorConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.model = SiteModel(
            battery=BatteryModel(
                config.capacity_kwh,
                config.charge_max_kw,
                config.discharge_max_kw,
                config.efficiency_charge,
                config.efficiency_discharge,
                thermal_mass_kwh_per_k=max(0.05, config.capacity_kwh * 0.01),
                cooling_kw_per_k=max(0.01, config.capacity_kwh * 0.002),
            ),
            state=BatteryState(config.soc_pct),
            pv_peak_kw=config.pv_peak_kw,
            load_kind=config.load_kind,
            annual_load_mwh=config.annual_load_mwh,
            revert_timeout_s=config.revert_timeout_s,
        )
        profile = apply_parameters(load_profile(config.profile), config.parameters)
        models = None
        if profile.is_sunspec:
            chosen = config.sunspec_models
            ids = SUNSPEC_LAYOUTS[chosen] if isinstance(chosen, str) else chosen
            models = layout_sunspec_models(ids)
        elif config.sunspec_models is not None:
            raise ValueError(f"sunspec_models needs a SunSpec profile, not {config.profile!r}")
        self.register_map: RegisterMap = resolve_profile(profile, models)
        self.register_image = RegisterImage(self.register_map)
        self.nameplate = {
            "power_charge_max_kw": config.charge_max_kw,
            "power_discharge_max_kw": config.discharge_max_kw,
            "energy_capacity_kwh": config.capacity_kwh,
        }
        # named sensor registers of the profile (``sensors:``): the value each one shows
        self.sensor_values: dict[str, float] = {
            name: next((v for k, v in SENSOR_DEFAULTS.items() if name.startswith(k)), 0.0)
            for name in profile.sensors
        }
        self._sensor_points = {name: sensor.point for name, sensor in profile.sensors.items()}
        self._faults: dict[int, str] = {}  # register address -> "hang" | "error"
        self._raw: dict[int, int] = {}  # register address -> raw value shown instead of the model's
        self._server: ModbusTcpServer | None = None
        self._responsive = asyncio.Event()
        self._responsive.set()
        self.requests = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        now = self.clock.now()
        self.model.advance(now)
        image = self._image(now)
        first, last = min(image), max(image)
        values = [image.get(address, 0) for address in range(first, last + 1)]
        unit_ids = {self.config.unit_id} | self.register_map.extra_unit_ids()
        devices = [
            SimDevice(
                id=unit_id,
                simdata=[SimData(first, count=1, values=list(values), datatype=DataType.REGISTERS)],
                action=self._on_access,
            )
            for unit_id in sorted(unit_ids)
        ]
        self._server = ModbusTcpServer(devices, address=(self.config.host, self.config.port))
        await self._server.serve_forever(background=True)
        LOG.info("simulator %s listening on %s:%d", self.config.profile, self.config.host, self.config.port)

    async def stop(self) -> None:
        """Stop answering: close the port (a device switched off or unplugged)."""
        self._responsive.set()
        self._faults.clear()  # hung requests end (their connections are closed with the server)
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    def hang(self) -> None:
        """Keep the connection but stop answering (a frozen device): requests time out."""
        self._responsive.clear()

    def unhang(self) -> None:
        self._responsive.set()

    def fail_register(self, address: int, how: str = "hang") -> None:
        """Make reads covering ``address`` fail: ``hang`` (never answered while the fault lasts: the
        request times out; other registers and connections go on) or ``error`` (an exception reply)."""
        if how not in FAULTS:
            raise ValueError(f"fault {how!r}: use one of {', '.join(FAULTS)}")
        self._faults[address] = how

    def heal_register(self, address: int) -> None:
        self._faults.pop(address, None)
        self._raw.pop(address, None)

    def set_raw(self, address: int, value: int) -> None:
        """Show a raw register value (garbage, a "not available" sentinel) until healed."""
        self._raw[address] = value & 0xFFFF

    def _image(self, now: datetime) -> dict[int, int]:
        """The register image: the model's measurements, the named sensor registers, raw overrides."""
        image = self.register_image.image(self.model.measurements(now), self.nameplate)
        for name, point in self._sensor_points.items():
            image.update(enumerate(encode_point(point, self.sensor_values[name]), point.address))
        image.update(self._raw)
        return image

    async def _fault(self, address: int, count: int) -> ExcCodes | None:
        while True:
            faults = {self._faults.get(a) for a in range(address, address + count)}
            if "error" in faults:
                return ExcCodes.DEVICE_FAILURE
            if "hang" not in faults:
                return None
            await asyncio.sleep(0.02)

    async def serve_until_cancelled(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # --- pymodbus callback -------------------------------------------------------------------
    async def _on_access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        await self._responsive.wait()
        self.requests += 1
        if self._faults and set_values is None and (fault := await self._fault(address, count)) is not None:
            return fault
        now = self.clock.now()
        try:
            if set_values is None:
                image = self._image(now)
                for offset in range(count):
                    reg = address + offset
                    if reg in image:
                        registers[reg - start_address] = image[reg]
                return None
            current = {start_address + i: value for i, value in enumerate(registers)}
            kw = self.register_image.decode_setpoint_write(address, [int(v) for v in set_values], current)
        except Exception:  # never let a bad request kill the server
            LOG.exception("simulator: cannot serve request fc=%d at %d", function_code, address)
            return ExcCodes.DEVICE_FAILURE
        if kw is not None:
            self.model.command(kw, now, self.register_image.setpoint_reversion())
        return None


async def run_simulator(config: SimulatorConfig, clock: Clock | None = None) -> None:
    """Serve until cancelled (Ctrl-C)."""
    simulator = BatterySimulator(config, clock)
    with contextlib.suppress(asyncio.CancelledError):
        await simulator.serve_until_cancelled()
