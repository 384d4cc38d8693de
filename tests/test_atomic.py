"""write_atomically on a real full disk (a 1 MiB tmpfs, as the fault suite mounts): the old file stays
whole, no temporary file is left behind, the error reaches the caller."""

from __future__ import annotations

import errno
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from phoenyra_ems.atomic import write_atomically
from tests.faults.harness import TinyFs


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[TinyFs]:
    fs = TinyFs(tmp_path / "tiny", size="1m")
    reason = fs.mount()
    if reason is not None:
        pytest.skip(reason)
    try:
        yield fs
    finally:
        fs.unmount()


def test_a_write_replaces_the_file_with_the_given_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "model.bin"
    write_atomically(path, lambda out: out.write(b"old"))
    write_atomically(path, lambda out: out.write(b"new"), mode=0o600)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["model.bin"]


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary_file(full_disk: TinyFs) -> None:
    path = full_disk.path / "stop_loss.json"
    write_atomically(path, lambda out: out.write(b'{"old": true}'))
    full_disk.fill()
    with pytest.raises(OSError) as raised:
        write_atomically(path, lambda out: out.write(b"x" * 200_000))
    assert raised.value.errno == errno.ENOSPC
    assert path.read_bytes() == b'{"old": true}'
    assert sorted(p.name for p in full_disk.path.iterdir()) == ["filler.bin", "stop_loss.json"]
    full_disk.free()
    write_atomically(path, lambda out: out.write(b"x" * 200_000))  # space again: it is written
    assert path.stat().st_size == 200_000
