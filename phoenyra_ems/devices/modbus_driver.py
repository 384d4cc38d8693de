"""Modbus TCP driver of one device: its own connect loop, reads by plan, setpoint re-assertion.

One ``AsyncModbusTcpClient`` per device (requests on a client are serialised anyway). pymodbus's own
reconnect is switched off: a failed first connect never retries by itself there, so this driver runs
one supervisor loop with exponential backoff for every (re)connect, and runs the profile's
on-connect writes (and, for SunSpec, the scan) after each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from phoenyra_ems.clock import Clock, SystemClock
from phoenyra_ems.config.model import BessConfig, ModbusConfig
from phoenyra_ems.devices.codec import RegisterMap, RegisterWrite, resolve_profile
from phoenyra_ems.devices.errors import DeviceError, DeviceUnavailable, WriteRefused
from phoenyra_ems.devices.plausibility import check_plausible
from phoenyra_ems.devices.sunspec import scan_sunspec
from phoenyra_ems.models import Measurements
from phoenyra_ems.profiles.loader import DeviceProfile, apply_parameters, load_profile

LOG = logging.getLogger(__name__)

BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 3.0  # a device that is back is found within this: recovery <= 5 s (tests/faults)
SETPOINT_RESOLUTION_KW = 0.001
# What a failing request raises: pymodbus's own errors (ModbusIOException on a timeout), socket
# errors and timeouts. Every driver method turns these into DeviceErrors.
TRANSPORT_ERRORS = (ModbusException, OSError, TimeoutError)


@dataclass
class DriverStats:
    round_trips: int = 0
    failures: int = 0
    connects: int = 0
    setpoint_writes: int = 0


class ModbusDevice:
    """A battery system (PCS + BMS + meters) behind one Modbus TCP endpoint."""

    def __init__(self, config: ModbusConfig, bess: BessConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.bess = bess
        self.clock = clock or SystemClock()
        self.profile: DeviceProfile = apply_parameters(load_profile(config.profile), config.parameters)
        self.register_map: RegisterMap | None = None
        self.stats = DriverStats()
        self._client = AsyncModbusTcpClient(
            config.host,
            port=config.port,
            timeout=config.timeout_s,
            retries=config.retries,
            reconnect_delay=0,  # our supervisor owns reconnection
        )
        self._io_lock = asyncio.Lock()  # one request sequence at a time (controller vs keep-alive)
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._last_setpoint: float | None = None
        self._last_write: datetime | None = None

    @property
    def name(self) -> str:
        return f"{self.config.host}:{self.config.port}/{self.config.unit_id} ({self.profile.name})"

    @property
    def connected(self) -> bool:
        return self._ready.is_set() and bool(self._client.connected)

    @property
    def refresh_s(self) -> float:
        """Re-assert the setpoint at least this often (half the device's revert timer)."""
        revert = self.register_map.revert_timeout_s if self.register_map else None
        refresh = self.config.setpoint_refresh_s
        return min(refresh, revert / 2) if revert else refresh

    @property
    def hold_s(self) -> float:
        """How long the device may go on with a setpoint if we lose it (the SoC window's horizon).

        Its revert timer when it has one; otherwise ``modbus.assumed_hold_s`` (docs/safety.md).
        """
        revert = self.register_map.revert_timeout_s if self.register_map else self.profile.revert_timeout_s
        return float(revert) if revert else self.config.assumed_hold_s

    async def start(self) -> None:
        """Start the supervisor; returns at once (the device may still be connecting)."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name=f"modbus {self.name}")

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    async def stop(self) -> None:
        if self._supervisor is not None:
            async with self._io_lock:  # never cancel a request in flight: it desynchronises the client
                self._supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._supervisor
            self._supervisor = None
        if self.connected:
            with contextlib.suppress(DeviceError):
                await self.write_safe()
        self._client.close()
        self._ready.clear()

    async def _supervise(self) -> None:
        backoff = BACKOFF_START_S
        while True:
            try:
                await self._connect_once()
                backoff = BACKOFF_START_S
                self._lost.clear()
                await self._keep_setpoint_alive()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                LOG.warning("%s: connect failed: %s (retry in %.1fs)", self.name, err, backoff)
            self._ready.clear()
            self._client.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _keep_setpoint_alive(self) -> None:
        """Until the link drops: re-assert the active setpoint before the device's revert timer.

        The controller writes on every change, but its cycle may be longer than the revert timer
        (or it may be busy); this keeps a setpoint written once from silently reverting.
        """
        while not self._lost.is_set():
            lost = asyncio.ensure_future(self._lost.wait())
            tick = asyncio.ensure_future(self.clock.sleep(self.refresh_s / 2))
            await asyncio.wait({lost, tick}, return_when=asyncio.FIRST_COMPLETED)
            for task in (lost, tick):
                task.cancel()
            if self._lost.is_set() or self._last_setpoint is None:
                continue
            with contextlib.suppress(DeviceError):
                await self.write_setpoint(self._last_setpoint)

    async def _connect_once(self) -> None:
        if not await self._client.connect():
            raise DeviceUnavailable(f"cannot connect to {self.config.host}:{self.config.port}")
        self.stats.connects += 1
        if self.register_map is None:
            models = await scan_sunspec(self._read_raw) if self.profile.is_sunspec else None
            self.register_map = resolve_profile(self.profile, models)
        for write in self.register_map.on_connect_writes():
            await self._write(write)
        self._last_setpoint = None  # force a fresh write: the device may have reverted meanwhile
        self._ready.set()
        await self.read()  # primes scale factors and nameplate values that setpoints need
        LOG.info("%s: connected", self.name)

    def _mark_lost(self, err: BaseException) -> None:
        if self._ready.is_set():
            LOG.warning("%s: connection lost: %s", self.name, err)
        self._ready.clear()
        self._lost.set()

    async def _read_raw(self, address: int, count: int) -> list[int] | None:
        """Raw read for SunSpec scanning: None on an exception response."""
        self.stats.round_trips += 1
        try:
            response = await self._client.read_holding_registers(
                address, count=count, device_id=self.config.unit_id
            )
        except TRANSPORT_ERRORS as err:
            raise self._lost_link(err) from err
        return None if response.isError() else list(response.registers)

    async def _write(self, write: RegisterWrite) -> None:
        """One register write: WriteRefused on an exception reply, DeviceUnavailable if unanswered."""
        self.stats.round_trips += 1
        try:
            response = await self._client.write_registers(
                write.address, list(write.values), device_id=write.unit or self.config.unit_id
            )
        except TRANSPORT_ERRORS as err:
            raise self._lost_link(err) from err
        if response.isError():
            self.stats.failures += 1
            raise WriteRefused(f"{self.name}: write to {write.address} refused: {response}")

    def _lost_link(self, err: BaseException) -> DeviceUnavailable:
        """Count the failure, start a reconnect, and say so as a DeviceError."""
        self.stats.failures += 1
        self._mark_lost(err)
        return DeviceUnavailable(f"{self.name}: {type(err).__name__}: {err}")

    def _ensure_connected(self) -> RegisterMap:
        """The resolved map, or DeviceUnavailable (and a reconnect) if the link dropped."""
        if self.register_map is None or not self._ready.is_set():
            raise DeviceUnavailable(f"{self.name}: not connected")
        if not self._client.connected:
            self._mark_lost(ConnectionError("connection closed by the device"))
            raise DeviceUnavailable(f"{self.name}: connection closed")
        return self.register_map

    async def read(self) -> Measurements:
        """One reading, checked for plausibility. Raises DeviceError."""
        register_map = self._ensure_connected()
        try:
            async with self._io_lock:
                blocks = await self._read_blocks(register_map)
        except TRANSPORT_ERRORS as err:
            raise self._lost_link(err) from err
        return check_plausible(register_map.decode(blocks), self.bess)

    async def _read_blocks(self, register_map: RegisterMap) -> dict[tuple[str, int], list[int]]:
        blocks: dict[tuple[str, int], list[int]] = {}
        for block in register_map.read_plan():
            self.stats.round_trips += 1
            reader = (
                self._client.read_input_registers
                if block.table == "input"
                else self._client.read_holding_registers
            )
            response = await reader(
                block.address, count=block.count, device_id=block.unit or self.config.unit_id
            )
            if response.isError():
                raise DeviceUnavailable(f"{self.name}: read {block} refused: {response}")
            blocks[(block.table, block.address)] = list(response.registers)
        return blocks

    async def write_setpoint(self, kw: float) -> bool:
        """Write ``kw`` (+ discharge) if it changed or the device's revert timer needs a refresh.

        Returns True when registers were written.
        """
        register_map = self._ensure_connected()
        now = self.clock.now()
        unchanged = self._last_setpoint is not None and abs(kw - self._last_setpoint) < SETPOINT_RESOLUTION_KW
        fresh = self._last_write is not None and (now - self._last_write).total_seconds() < self.refresh_s
        if unchanged and fresh:
            return False
        async with self._io_lock:
            for write in register_map.encode_setpoint(kw):
                await self._write(write)
        self.stats.setpoint_writes += 1
        self._last_setpoint, self._last_write = kw, now
        return True

    async def write_safe(self) -> None:
        """Put the device in its safe state (0 kW) if it can be reached; DeviceError if that failed.

        A link known to be down is not tried (the device's revert timer is the fallback there): a
        hung device would only make every cycle wait for the timeout.
        """
        if self.register_map is None or not self.connected:
            return
        async with self._io_lock:
            for write in self.register_map.safe_writes():
                await self._write(write)
        self._last_setpoint, self._last_write = 0.0, self.clock.now()
