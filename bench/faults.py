"""Fault injection against real processes: time to safe, recovery, history rows lost, per fault.

Runs the cases of the fault suite (``tests/faults``: the same harness and the same checks) against
the daemon (``phoenyra-ems run``) and real device processes (``phoenyra-ems simulate`` and the fault
device), and prints one row per fault with the bound it is checked against. Cycle 0.5 s, Modbus
timeout 0.5 s, no retries. Takes about 1.5 minutes.

Columns: *time to safe* from the fault to the API showing the safe state (disk full: to the
``history_unavailable`` alarm); *recovery* from the fault's end to ``running`` (SIGTERM: to the
daemon's exit; disk full at start: from start to running); *rows lost*: cycles of the fault
without a history row (SIGKILL / SIGTERM: cycles between the newest row on disk and the signal).
The SIGKILL case (10 s of writing, then the kill) runs alongside the device cases.

    .venv/bin/python bench/faults.py [--cases silent,gone,sigkill_writing] [--list]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BACKGROUND = ("sigkill_writing",)  # mostly waiting: run next to the device cases to save 15 s


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", help="comma-separated case keys (default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))  # the harness lives in the test tree
    from tests.faults.cases import CannotRun, DeviceRig, all_cases
    from tests.faults.harness import Auth, Outcome, kill_all

    CASES = all_cases()
    if args.list:
        for key, case in CASES.items():
            print(f"{key:34} {case.kind:7} {case.fault}")
        return 0
    keys = args.cases.split(",") if args.cases else list(CASES)
    unknown = [k for k in keys if k not in CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; known: {', '.join(CASES)}")

    started = time.monotonic()
    results: dict[str, tuple[Outcome, str, str]] = {}  # key -> outcome, result, why

    def run(key: str, *rig_args: object) -> None:
        case = CASES[key]
        out = case.outcome()
        try:
            case.run(*rig_args, out)
            result, why = "pass", ""
        except CannotRun as reason:
            result, why = "skip", str(reason)
        except AssertionError as err:
            result, why = "FAIL", str(err)
        except Exception as err:  # the harness itself (a process that would not start, ...)
            result, why = "FAIL", f"{type(err).__name__}: {err}"
        results[key] = (out, result, why)
        print(f"  {result:4} {case.fault}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="phoenyra-faults-") as tmp:
        root = Path(tmp)
        try:
            (root / "auth").mkdir()
            auth = Auth.create(root / "auth")
            background = [k for k in keys if k in BACKGROUND]
            for key in background:
                (root / key).mkdir()

            def run_background() -> None:
                for key in background:
                    run(key, root / key, auth)

            waiter = threading.Thread(target=run_background, name="background cases")
            waiter.start()  # cases that mostly wait (10 s of writing) run alongside the device cases
            device_keys = [k for k in keys if CASES[k].kind == "device"]
            if device_keys:
                (root / "rig").mkdir()
                rig = DeviceRig(root / "rig", auth)
                try:
                    rig.start()
                    for key in device_keys:
                        try:
                            rig.heal()
                        except Exception as err:
                            results[key] = (CASES[key].outcome(), "FAIL", f"rig not healthy: {err}")
                            continue
                        run(key, rig)
                finally:
                    rig.close()
                if rig.daemon_restarts:
                    print(f"  (the shared daemon was restarted {rig.daemon_restarts}x after a stuck case)")
            waiter.join()
            for key in (k for k in keys if CASES[k].kind == "daemon" and k not in BACKGROUND):
                workdir = root / key
                workdir.mkdir()
                run(key, workdir, auth)
        finally:
            kill_all()

    print(
        f"Fault injection, real processes on loopback: cycle 0.5 s, Modbus timeout 0.5 s, retries 0 "
        f"({time.monotonic() - started:.0f} s)"
    )
    header = ("fault", "time to safe (s)", "recovery (s)", "rows lost", "result", "bound")
    rows = [
        (
            out.fault,
            _fmt(out.time_to_safe_s),
            _fmt(out.recovery_s),
            "-" if out.rows_lost is None else str(out.rows_lost),
            result,
            out.bound,
        )
        for out, result, _ in (results[k] for k in keys if k in results)
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    aligns = ["<", ">", ">", ">", "<", "<"]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, aligns, widths, strict=True)).rstrip())
    for out, result, why in (results[k] for k in keys if k in results):
        if why or out.notes:
            details = "; ".join([*out.notes, why] if why else out.notes)
            print(f"- {out.fault} ({result}): {details[:600]}")
    return 0 if all(result != "FAIL" for _, result, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
