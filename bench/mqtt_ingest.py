"""MQTT sensor ingest: 1,000 simulated edge sensors → mosquitto → discovery → registry → aggregation.

Starts its own mosquitto on a free loopback port and one publisher process (paho-mqtt, the
Phoenyra JSON format with a publish timestamp); the EMS side is what the daemon runs: one
MqttConnection, SensorDiscovery, SensorRegistry (10 sites × 100 temperature sensors, assigned by
rules), and the aggregate (median/MAD outlier rejection, avg) of every site that got a reading,
recomputed every 10 ms.  Phases: 1 Hz per sensor, 5 Hz per sensor, then as fast as the publisher can.

Prints per phase: offered and ingested messages/s, aggregates/s, and the latency from publish to
the registry and to the aggregated value (p50 / p99 / max).  Bounded (~20 s), cleans up after itself.

    .venv/bin/python bench/mqtt_ingest.py [--sensors 1000] [--phase-s 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import free_port, percentile  # bench/ is the script's directory

from phoenyra_ems.mqtt import AssignmentRule, MqttConnection, SensorDiscovery, SensorEvent, SensorRegistry
from phoenyra_ems.mqtt.registry import Sensor

SITES = 10


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = next((p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if Path(p).is_file()), None)
    binary = binary or shutil.which("mosquitto")
    if binary is None:
        raise SystemExit("mosquitto is not installed (make broker)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("mosquitto did not start")


def device_id(i: int) -> str:
    return f"dev{i:04d}"


def publisher(port: int, sensors: int, phases: list[tuple[str, float | None, float]], go: object) -> None:
    """Publish phase by phase: (name, messages/s or None = as fast as possible, seconds)."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    go.wait()  # type: ignore[attr-defined]
    seq = 0
    for _, rate, seconds in phases:
        start = time.monotonic()
        sent = 0
        while (now := time.monotonic()) - start < seconds:
            if rate is not None and sent >= rate * (now - start):
                time.sleep(0.001)
                continue
            i = seq % sensors
            value = 80.0 if i % 100 == 7 else 20.0 + (i % 10) * 0.05  # one outlier in every site
            payload = json.dumps({"value": value, "timestamp": time.time()})
            client.publish(f"phoenyra/sensors/{device_id(i)}/temperature", payload)
            seq += 1
            sent += 1
            if rate is None and sent % 200 == 0:  # let paho's network thread drain its queue
                while len(getattr(client, "_out_packet", ())) > 2000:
                    time.sleep(0.0005)
    client.loop_stop()
    client.disconnect()


class Ingest:
    """Records publish→registry latency per reading; aggregates changed sites every ``period_s``.

    That is how the daemon will use it (a site's control cycle reads the aggregate), only much
    more often: the aggregate of a site is recomputed at most every 10 ms when one of its sensors
    reported, and each reading's publish→aggregate latency is taken when an aggregate includes it.
    """

    def __init__(self, period_s: float = 0.01) -> None:
        rules = [
            AssignmentRule(site=f"site{k}", role="temperature", device=f"dev0{k}??") for k in range(SITES)
        ]
        self.registry = SensorRegistry(rules, default_expire_after_s=60)
        self.period_s = period_s
        self.pending: dict[str, list[float]] = {}
        self.last_values: dict[str, float | None] = {}
        self.dropped_outliers = 0
        self.reset()
        self.registry.add_listener(self.on_event)

    def reset(self) -> None:
        self.updates = 0
        self.aggregations = 0
        self.to_registry: list[float] = []
        self.to_aggregate: list[float] = []

    def on_event(self, event: SensorEvent, sensor: Sensor) -> None:
        if event != SensorEvent.UPDATED or sensor.site is None or sensor.reported_at is None:
            return
        self.updates += 1
        self.to_registry.append(time.time() - sensor.reported_at)
        self.pending.setdefault(sensor.site, []).append(sensor.reported_at)

    async def aggregate_forever(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            pending, self.pending = self.pending, {}
            for site, stamps in pending.items():
                result = self.registry.aggregate(site, "temperature", "avg")
                now = time.time()
                self.aggregations += 1
                self.to_aggregate.extend(now - t for t in stamps)
                self.last_values[site] = result.value
                outliers = sum(1 for _, reason in result.dropped if reason == "outlier")
                self.dropped_outliers = max(self.dropped_outliers, outliers)


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"p50 {percentile(values, 50) * 1e3:6.1f}  p99 {percentile(values, 99) * 1e3:6.1f}  "
        f"max {max(values) * 1e3:6.1f} ms"
    )


async def run(sensors: int, phase_s: float) -> None:
    phases: list[tuple[str, float | None, float]] = [
        ("1 Hz per sensor", sensors * 1.0, phase_s),
        ("5 Hz per sensor", sensors * 5.0, phase_s),
        ("max rate", None, phase_s),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_broker(Path(tmp))
        ctx = mp.get_context("spawn")
        go = ctx.Event()
        proc = ctx.Process(target=publisher, args=(port, sensors, phases, go), daemon=True)
        connection = MqttConnection("127.0.0.1", port, client_id="bench-ems")
        ingest = Ingest()
        aggregator = asyncio.create_task(ingest.aggregate_forever())
        try:
            SensorDiscovery(ingest.registry, connection).attach()
            await connection.start()
            if not await connection.wait_connected(5):
                raise SystemExit("cannot connect to mosquitto")
            proc.start()
            await asyncio.sleep(1.0)  # the publisher connects
            print(
                f"mqtt ingest: {sensors} sensors in {SITES} sites (one outlier each), mosquitto on "
                f"127.0.0.1:{port}; {mp.cpu_count()} cores shared by broker, publisher and EMS"
            )
            go.set()
            for name, rate, seconds in phases:
                ingest.reset()
                start = time.monotonic()
                await asyncio.sleep(seconds)
                elapsed = time.monotonic() - start
                offered = "max" if rate is None else f"{rate:,.0f}"
                print(
                    f"  {name:16s} offered {offered:>5s} msg/s: "
                    f"ingested {ingest.updates / elapsed:6,.0f} msg/s, "
                    f"{ingest.aggregations / elapsed:4,.0f} aggregates/s\n"
                    f"    publish→registry  {spread(ingest.to_registry)}\n"
                    f"    publish→aggregate {spread(ingest.to_aggregate)}"
                )
            values = [v for v in ingest.last_values.values() if v is not None]
            print(
                f"  registry: {len(ingest.registry)} sensors; "
                f"site aggregates {min(values):.3f}…{max(values):.3f} °C "
                f"(outlier 80 °C dropped: {ingest.dropped_outliers} per site)"
            )
        finally:
            aggregator.cancel()
            proc.join(timeout=phase_s * 4 + 5)
            if proc.is_alive():
                proc.kill()
            await connection.stop()
            broker.kill()
            broker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--phase-s", type=float, default=6.0)
    args = parser.parse_args()
    if args.sensors % (SITES * 100) and args.sensors != 1000:
        print("note: sites are assigned by device id dev0k??; use multiples of 1000", file=sys.stderr)
    asyncio.run(run(args.sensors, args.phase_s))


if __name__ == "__main__":
    main()
