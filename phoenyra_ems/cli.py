"""``phoenyra-ems``: the daemon and its tools, one subcommand each (``phoenyra-ems -h`` lists them all)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from phoenyra_ems import __version__
from phoenyra_ems.logs import setup_logging
from phoenyra_ems.signals import run_until_signal


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _clock(speed: float, start: str | None):  # type: ignore[no-untyped-def]
    from phoenyra_ems.clock import AcceleratedClock, SystemClock

    begin = _parse_start(start)
    if speed == 1.0 and begin is None:
        return SystemClock()
    return AcceleratedClock(begin or datetime.now(UTC), speed)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, except the empty ones (``None``, ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _add_time_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--start", help="simulated start instant, ISO 8601 (default: now)")


USER_HELP = (
    "manage users and API tokens: phoenyra-ems user [-c CONFIG | --db DB] COMMAND … "
    "(see: phoenyra-ems user -h)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phoenyra-ems", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="json: one structured object per line"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a configuration file. Every error names the key path and the line; "
        "exit code 1 if there is any, 0 if the file is valid.",
        formatter_class=_HelpFormatter,
    )
    check.add_argument("file", help="the YAML configuration, e.g. examples/ems.yaml")

    run = sub.add_parser(
        "run",
        help="the daemon: every configured site, and the API",
        description="The daemon: every configured site under its own supervisor, and the REST + "
        "WebSocket API on api.host:api.port of the configuration. SIGHUP (or POST /api/v1/reload) "
        "re-reads the configuration; SIGINT / SIGTERM put every battery in its safe state and stop. "
        "Exit code 1 for a bad configuration or an API address already in use.",
        formatter_class=_HelpFormatter,
    )
    run.add_argument("-c", "--config", required=True, help="the configuration file (YAML)")
    _add_time_args(run)

    user = sub.add_parser("user", help=USER_HELP, add_help=False)
    user.add_argument("-c", "--config", help="config file (its api.auth_db is used)")
    user.add_argument("--db", help="auth database (default: api.auth_db of the config, else data/auth.db)")
    user.add_argument("rest", nargs=argparse.REMAINDER)

    from phoenyra_ems.profiles.catalog import known_profiles

    sim = sub.add_parser(
        "simulate",
        help="a simulated battery site on Modbus TCP (loopback)",
        description="A simulated battery site (battery physics, PV, load) served as a Modbus TCP "
        "device with a profile's register map, until Ctrl-C. Exit code 1 if the address is in use.",
        formatter_class=_HelpFormatter,
    )
    sim.add_argument("--profile", default="generic", help=f"register map: {', '.join(known_profiles())}")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim.add_argument("--port", type=int, default=5020, help="Modbus TCP port")
    sim.add_argument("--unit-id", type=int, default=1, help="Modbus unit id")
    sim.add_argument("--capacity-kwh", type=float, default=10.0, help="battery capacity")
    sim.add_argument("--power-kw", type=float, default=5.0, help="maximum charge and discharge power")
    sim.add_argument("--soc", type=float, default=50.0, help="state of charge at start, %%")
    sim.add_argument("--pv-peak-kw", type=float, default=8.0, help="PV peak power (0: no PV)")
    sim.add_argument(
        "--load", choices=["household", "commercial", "none"], default="household", help="load profile"
    )
    sim.add_argument("--annual-load-mwh", type=float, default=6.0, help="the load's yearly consumption")
    sim.add_argument(
        "--revert-timeout-s", type=float, default=60.0, help="setpoint falls back to 0 kW after (0: never)"
    )
    sim.add_argument(
        "--sunspec-models",
        help="with --profile sunspec: the models the device advertises, a layout name "
        "(all, 802+704, 713+704, 124-only, 713+714; default all) or model ids like 1,704,713",
    )
    _add_time_args(sim)

    sign = sub.add_parser(
        "mqtt-sign", help="sign an MQTT command with a site's mqtt.command_key (prints the JSON to publish)"
    )
    sign.add_argument("-c", "--config", required=True)
    sign.add_argument("--site", help="site id (default: the default site)")
    sign.add_argument("payload", metavar="JSON", help='the control request, e.g. {"mode":"standby"}')

    demo = sub.add_parser(
        "demo",
        help="two simulated sites (Wien, Linz) with their controllers",
        description="The configuration's sites, each against its own simulator, behind the daemon's "
        "API, with the technician's console on this terminal. Configured ports already in use are "
        "replaced by free ones (printed at start). The demo keeps its data in data/demo: the history "
        "starts afresh on every run; the users are in data/demo/auth.db (phoenyra-ems user --db "
        "data/demo/auth.db …); every run prints a new admin token and revokes the previous one.",
        formatter_class=_HelpFormatter,
    )
    demo.add_argument("-c", "--config", default="examples/ems.yaml", help="the configuration file (YAML)")
    demo.add_argument("--headless", action="store_true", help="no console: log status lines only")
    demo.add_argument(
        "--mqtt", metavar="HOST:PORT", help="connect the demo sites and sensor discovery to this MQTT broker"
    )
    demo.add_argument(
        "--vpp",
        action="store_true",
        help="also run the test VTN (OpenADR 3) with one program; a dispatch event arrives a few "
        "seconds after start and the sites follow it (docs/vpp.md)",
    )
    demo.add_argument("--duration", type=float, default=0.0, help="stop after N real seconds (0: never)")
    _add_time_args(demo)
    demo.set_defaults(speed=60.0)

    from phoenyra_ems.backtest.command import add_parser as add_backtest
    from phoenyra_ems.forecast.command import add_parser as add_forecast_eval

    add_backtest(sub)
    add_forecast_eval(sub)
    from phoenyra_ems.community.command import add_parsers as add_community

    add_community(sub, _HelpFormatter)
    from phoenyra_ems.selector.command import add_parser as add_selector

    add_selector(sub)
    from phoenyra_ems.vpp.vtn.command import add_parser as add_vtn  # issue 16: test VTN

    add_vtn(sub, _HelpFormatter)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "user":  # ``user -h``, ``user -c ems.yaml --help``: the user parser's
        args.rest = [*extra, *args.rest]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(args.verbose, args.log_format)
    if args.command == "check-config":
        from phoenyra_ems.config.check import check_config_main

        return check_config_main(args.file)
    if args.command == "simulate":
        return _simulate(args)
    if args.command == "run":
        return _run(args)
    if args.command == "user":
        return _user(args)
    if args.command == "mqtt-sign":
        return _mqtt_sign(args)
    if args.command == "backtest":
        from phoenyra_ems.backtest.command import run as run_backtest

        return run_backtest(args)
    if args.command == "forecast-eval" and args.value:  # forecasters judged by money: the backtest's
        from phoenyra_ems.backtest.forecast_value import run as run_forecast_value

        return run_forecast_value(args)
    if args.command == "forecast-eval":
        from phoenyra_ems.forecast.command import run as run_forecast_eval

        return run_forecast_eval(args)
    if args.command in ("community", "ledger"):
        from phoenyra_ems.community.command import run as run_community

        return run_community(args)
    if args.command == "selector":
        from phoenyra_ems.selector.command import run as run_selector

        return run_selector(args)
    if args.command == "vtn":
        from phoenyra_ems.vpp.vtn.command import run as run_vtn

        return run_vtn(args)
    if args.command == "demo":
        from phoenyra_ems.demo import run_demo

        return run_demo(
            args.headless, args.duration, _clock(args.speed, args.start), args.config, args.mqtt, args.vpp
        )
    return 2


def _simulate(args: argparse.Namespace) -> int:
    from phoenyra_ems.ports import busy_message, in_use
    from phoenyra_ems.profiles.catalog import known_profiles
    from phoenyra_ems.simulator.server import (
        SUNSPEC_LAYOUTS,
        BatterySimulator,
        SimulatorConfig,
        run_simulator,
    )

    profiles = known_profiles()
    if args.profile not in profiles:
        print(
            f"phoenyra-ems simulate: unknown profile {args.profile!r}; profiles: {', '.join(profiles)}",
            file=sys.stderr,
        )
        return 2
    if in_use(args.host, args.port):
        print(f"phoenyra-ems simulate: {busy_message(args.host, args.port, '--port')}", file=sys.stderr)
        return 1

    config = SimulatorConfig(
        profile=args.profile,
        host=args.host,
        port=args.port,
        unit_id=args.unit_id,
        capacity_kwh=args.capacity_kwh,
        charge_max_kw=args.power_kw,
        discharge_max_kw=args.power_kw,
        soc_pct=args.soc,
        pv_peak_kw=args.pv_peak_kw,
        load_kind=args.load,
        annual_load_mwh=args.annual_load_mwh,
        revert_timeout_s=args.revert_timeout_s or None,
        sunspec_models=_sunspec_models(args.sunspec_models),
    )
    try:
        BatterySimulator(config)  # validates the register layout before anything listens
    except KeyError as err:
        layouts = ", ".join(SUNSPEC_LAYOUTS)
        print(f"phoenyra-ems simulate: --sunspec-models: unknown {err}; layouts: {layouts}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"phoenyra-ems simulate: --sunspec-models: {err}", file=sys.stderr)
        return 2
    return run_until_signal(run_simulator(config, _clock(args.speed, args.start)))


def _sunspec_models(text: str | None) -> str | tuple[int, ...] | None:
    """``--sunspec-models``: a layout name as given, or comma-separated model ids."""
    if text is None or not text.replace(",", "").replace(" ", "").isdigit():
        return text
    return tuple(int(part) for part in text.split(",") if part.strip())


def _run(args: argparse.Namespace) -> int:
    from phoenyra_ems.config import load_config_or_report
    from phoenyra_ems.daemon import run_daemon
    from phoenyra_ems.ports import busy_message, in_use

    config = load_config_or_report(args.config)
    if config is None:
        return 1
    host, port = config.api.host, config.api.port
    if in_use(host, port):
        print(f"phoenyra-ems run: {busy_message(host, port, 'api.host/api.port')}", file=sys.stderr)
        return 1
    try:
        return run_until_signal(run_daemon(config, _clock(args.speed, args.start), args.config))
    except OSError as err:  # taken in the meantime, or not bindable; run_daemon stopped what it started
        print(f"phoenyra-ems run: cannot start: {err}", file=sys.stderr)
        return 1


def _user(args: argparse.Namespace) -> int:
    from phoenyra_ems.auth.cli import user_main
    from phoenyra_ems.config import load_config_or_report
    from phoenyra_ems.config.model import ApiConfig

    db = args.db
    if db is None and args.config:
        config = load_config_or_report(args.config)
        if config is None:
            return 1
        db = config.api.auth_db
    return user_main(args.rest, db or ApiConfig().auth_db)


def _mqtt_sign(args: argparse.Namespace) -> int:
    import json

    from phoenyra_ems.config import load_site
    from phoenyra_ems.mqtt.command_auth import sign_command

    site = load_site(args.config, args.site)
    if site is None:
        return 1
    if not site.mqtt.command_key:
        print(f"{args.config}: site {site.site_id!r} has no mqtt.command_key", file=sys.stderr)
        return 1
    try:
        command = json.loads(args.payload)
    except ValueError as err:
        print(f"not JSON: {err}", file=sys.stderr)
        return 2
    if not isinstance(command, dict):
        print("a command is a JSON object", file=sys.stderr)
        return 2
    print(json.dumps(sign_command(command, site.mqtt.command_key), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
