"""Price providers: the shipped replay and a user's CSV file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from phoenyra_ems.prices import FilePriceProvider, ReplayPriceProvider


def test_replay_gives_the_real_2024_prices_on_the_same_day_of_the_year() -> None:
    slots = ReplayPriceProvider("at").slots(datetime(2026, 11, 6, 16, 30, tzinfo=UTC), 24)
    assert len(slots) == 24
    assert slots[0].start == datetime(2026, 11, 6, 16, tzinfo=UTC)
    assert max(s.eur_mwh for s in slots) > 400  # the dear evening of 6 November 2024 in AT


def test_replay_gives_each_caller_its_own_horizon_within_one_slot() -> None:
    # The controller asks for 24 h, the optimiser for 48 h, in the same cycle: neither gets the other's.
    provider, now = ReplayPriceProvider("at"), datetime(2026, 11, 6, 16, 30, tzinfo=UTC)
    assert [len(provider.slots(now, h)) for h in (24, 48, 24, 48)] == [24, 48, 24, 48]


def test_file_prices_from_the_current_slot_on(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        "timestamp_utc,price_eur_per_mwh\n"
        + "".join(f"2025-01-01T{h:02d}:00:00Z,{10 * h}\n" for h in range(24))
    )
    provider = FilePriceProvider(path)
    slots = provider.slots(datetime(2025, 1, 1, 5, 30, tzinfo=UTC), 3)
    assert [s.eur_mwh for s in slots] == [50, 60, 70]
    assert provider.slots(datetime(2025, 1, 2, 1, tzinfo=UTC), 3) == ()


def test_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("time,price\n1,2\n3,4\n")
    with pytest.raises(ValueError, match="timestamp_utc"):
        FilePriceProvider(path)
