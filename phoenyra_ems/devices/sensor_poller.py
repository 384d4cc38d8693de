"""Sensor registers of a site's Modbus device, read at their own interval beside control.

``source: modbus`` sensors (``sensors.sensors`` in the configuration) are read here, not by the
control driver: on the site's Modbus endpoint (host, port, unit id, timeout), over a connection of
their own. pymodbus serialises the requests of one client, so a sensor register that answers slowly
or never would otherwise make the control cycle wait for its timeout, and a late answer would be
taken for the reply to the control's next request. Here a hung or refused register costs only its
own reading: the sensor is reported without a value (a dropped sensor with the site's alarm) until a
read succeeds again. Each sensor is its own request, so one bad register never hides another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from phoenyra_ems.config.model import ExplicitSensorConfig, ModbusConfig
from phoenyra_ems.devices.codec import decode_point
from phoenyra_ems.profiles.loader import RegisterPoint, RegType, Table, WordOrder, load_profile

LOG = logging.getLogger(__name__)

STOP_WAIT_S = 2.0
WARN_EVERY_S = 300.0  # a sensor that keeps failing is logged again this often
# readings outside these ranges are garbage (a dropped sensor), by the sensor's type
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "humidity": (0.0, 100.0),
    "soc": (0.0, 100.0),
    "temperature": (-60.0, 150.0),
}
TRANSPORT_ERRORS = (ModbusException, OSError, TimeoutError)

Report = Callable[[str, float | None, str | None], None]  # (sensor key, value or None, error or None)


@dataclass(frozen=True)
class PolledSensor:
    """One sensor register to read: ``key`` is the registry's id of the sensor."""

    key: str
    name: str
    type: str
    point: RegisterPoint
    interval_s: float


def sensor_point(sensor: ExplicitSensorConfig, profile_name: str) -> RegisterPoint:
    """The register of a ``source: modbus`` sensor: the profile's named one, or the one it gives."""
    if isinstance(sensor.register, str):
        named = load_profile(profile_name).sensors.get(sensor.register)
        if named is None:  # validate_config refuses this; a profile edited since then is the rest
            raise ValueError(f"device profile {profile_name!r} has no sensor register {sensor.register!r}")
        return named.point
    return RegisterPoint(
        address=int(cast(int, sensor.register)),
        table=cast(Table, sensor.table),
        type=cast(RegType, sensor.data_type),
        scale=sensor.scale,
        word_order=cast(WordOrder, sensor.word_order),
    )


def sensor_unit(sensor: ExplicitSensorConfig, profile_name: str) -> str | None:
    """The unit of a sensor: as configured, else that of the profile's named register."""
    if sensor.unit is not None or not isinstance(sensor.register, str):
        return sensor.unit
    named = load_profile(profile_name).sensors.get(sensor.register)
    return None if named is None else named.unit


def polled(sensor: ExplicitSensorConfig, key: str, profile_name: str) -> PolledSensor:
    return PolledSensor(key, sensor.id, sensor.type, sensor_point(sensor, profile_name), sensor.interval_s)


def check_value(sensor: PolledSensor, value: float | None) -> float:
    """A decoded reading, or ValueError saying why it is garbage."""
    if value is None or not math.isfinite(value):
        raise ValueError("the device reports the value as not available")
    low, high = PLAUSIBLE.get(sensor.type, (-math.inf, math.inf))
    if not low <= value <= high:
        raise ValueError(f"{value:g} is not a plausible {sensor.type} ({low:g}…{high:g})")
    return value


class ModbusSensorPoller:
    """Reads a site's sensor registers on its own connection to the site's Modbus endpoint."""

    def __init__(self, config: ModbusConfig, sensors: Sequence[PolledSensor], report: Report) -> None:
        self.config = config
        self.sensors = tuple(sensors)
        self.report = report
        self.reads = 0
        self.failures = 0
        self._client: AsyncModbusTcpClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._due: dict[str, float] = {}
        self._failing: dict[str, float] = {}  # key -> when it was last logged

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                self._run(), name=f"sensors {self.config.host}:{self.config.port}"
            )

    async def stop(self) -> None:
        """Stop reading (bounded: a read in flight is abandoned with its connection)."""
        task, self._task = self._task, None
        self._close()
        if task is not None:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=STOP_WAIT_S)
            if not done:
                LOG.warning("sensor poller %s:%d did not stop in time", self.config.host, self.config.port)
            elif not task.cancelled() and task.exception() is not None:
                LOG.warning("sensor poller stopped with %r", task.exception())

    def configure(self, config: ModbusConfig, sensors: Sequence[PolledSensor]) -> None:
        """A reload: new endpoint and/or sensors; changed ones are read at once."""
        if config != self.config:
            self.config = config
            self._close()  # the next read connects to the new endpoint
        old = {s.key: s for s in self.sensors}
        self.sensors = tuple(sensors)
        self._due = {s.key: self._due.get(s.key, 0.0) for s in self.sensors if old.get(s.key) == s}
        self._wake.set()

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _connection(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._close()
        client = AsyncModbusTcpClient(
            self.config.host,
            port=self.config.port,
            timeout=self.config.timeout_s,
            retries=0,
            reconnect_delay=0,  # reconnected here, when the next reading is due
        )
        self._client = client
        if not await client.connect():
            raise ConnectionError(f"cannot connect to {self.config.host}:{self.config.port}")
        return client

    async def _run(self) -> None:
        while self._task is not None:
            now = time.monotonic()
            for sensor in self.sensors:
                if self._due.get(sensor.key, 0.0) <= now:
                    await self._read(sensor)
                    self._due[sensor.key] = time.monotonic() + sensor.interval_s
            wait = min((self._due[s.key] for s in self.sensors), default=now + 3600.0) - time.monotonic()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, wait))

    async def _read(self, sensor: PolledSensor) -> None:
        self.reads += 1
        try:
            value = check_value(sensor, decode_point(sensor.point, await self._registers(sensor.point)))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a sensor never stops the poller, let alone control
            self.failures += 1
            self._failed(sensor, err)
            return
        if self._failing.pop(sensor.key, None) is not None:
            LOG.info("sensor %s: register %d reads again", sensor.name, sensor.point.address)
        self.report(sensor.key, value, None)

    async def _registers(self, point: RegisterPoint) -> Callable[[str, int], int | None]:
        client = await self._connection()
        reader = client.read_input_registers if point.table == "input" else client.read_holding_registers
        try:
            response = await reader(
                point.address, count=point.count, device_id=point.unit_id or self.config.unit_id
            )
        except TRANSPORT_ERRORS:
            self._close()  # a late answer must not be taken for the next request's
            raise
        if response.isError():
            raise ValueError(f"the device refuses the read ({response})")
        regs = dict(enumerate(response.registers, point.address))
        return lambda _table, address: regs.get(address)

    def _failed(self, sensor: PolledSensor, err: BaseException) -> None:
        reason = f"{type(err).__name__}: {err}" if not isinstance(err, ValueError) else str(err)
        message = f"register {sensor.point.address} ({sensor.point.table}): {reason}"
        now = time.monotonic()
        if now - self._failing.get(sensor.key, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._failing[sensor.key] = now
            LOG.warning("sensor %s: %s (dropped until it reads again)", sensor.name, message)
        self.report(sensor.key, None, message)
