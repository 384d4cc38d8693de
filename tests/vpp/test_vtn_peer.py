"""`phoenyra-ems vtn` (its parser and command, in-process), used by an independent OpenADR 3 client from PyPI
(toadr3): token, programs, events (our dispatch event parsed by its models), a report posted and
read back. Our VTN validates every request against the specification: none is rejected."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from phoenyra_ems.cli import build_parser
from phoenyra_ems.vpp.vtn.command import serve

toadr3 = pytest.importorskip("toadr3", reason="toadr3 (dev extra) is not installed")

SECRET = "peer-secret-1"


@pytest.fixture
async def vtn_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[tuple[str, pytest.CaptureFixture[str]]]:
    """``phoenyra-ems vtn …`` (the CLI's parser and command, in this process: fast)."""
    monkeypatch.setenv("PHOENYRA_VTN_VEN_SECRET", SECRET)
    monkeypatch.setenv("PHOENYRA_VTN_BL_SECRET", "bl-secret")
    argv = [
        "vtn",
        "--port",
        "0",
        "--dispatch-kw",
        "25",
        "--dispatch-delay-s",
        "0",
        "--resource",
        "wien",
        "--duration",
        "60",
    ]
    task = asyncio.create_task(serve(build_parser().parse_args(argv)))
    out = ""
    for _ in range(100):
        await asyncio.sleep(0.02)
        out += capsys.readouterr().out
        if "event " in out:
            break
    lines = out.splitlines()
    assert SECRET not in out and "event event-2: 25 kW" in out, out
    url = lines[0].split()[3]
    try:
        yield url, capsys
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_toadr3_talks_to_our_vtn(
    vtn_command: tuple[str, pytest.CaptureFixture[str]], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = vtn_command
    async with aiohttp.ClientSession() as session:
        token = await toadr3.acquire_access_token(
            session, f"{url}/auth/token", "client_credentials", {"scope": "read_all"}, "ven1", SECRET
        )
        programs = await toadr3.get_programs(session, url, token)
        assert [p.program_name for p in programs] == ["phoenyra-demo"]
        events = await toadr3.get_events(session, url, token, program_id=programs[0].id)
        assert len(events) == 1
        event = events[0]
        assert event.intervals[0].payloads[0].type == "DISPATCH_SETPOINT"
        assert event.intervals[0].payloads[0].values == [25.0]
        report = toadr3.models.Report.create_report(event, "ven1", "DEMAND", [-25.0])
        saved = await toadr3.post_report(session, url, token, report)
        assert saved.id and saved.event_id == event.id
        stored = await toadr3.get_reports(session, url, token)
        assert [r.id for r in stored] == [saved.id]
        with pytest.raises(toadr3.ToadrError):  # a wrong secret is refused
            await toadr3.acquire_access_token(
                session, f"{url}/auth/token", "client_credentials", {"scope": "read_all"}, "ven1", "wrong"
            )
    assert "request rejected" not in caplog.text
