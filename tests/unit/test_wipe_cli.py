"""`ardoise wipe` input checking: bad input exits 2 with one line, before any disk is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.cli import main
from appliance.commands.wipe import parse_size


@pytest.mark.parametrize("text,value", [("4096", 4096), ("64k", 65536), ("8M", 8 << 20),
                                        ("8MiB", 8 << 20), ("1g", 1 << 30), ("16 MB", 16 << 20)])
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["--lang", "en", "wipe", *argv])
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv,needle", [
    (["/dev/nonexistent-disk", "--method", "shred"], "unknown method shred"),
    (["/dev/nonexistent-disk", "--block-size", "8Q"], "bad size"),
    (["/dev/nonexistent-disk", "--block-size", "1000"], "multiple of 4 KiB"),
    (["/dev/nonexistent-disk", "--queue-depth", "0"], "at least 1"),
    (["/dev/nonexistent-disk", "--level", "purge", "--method", "overwrite"], "not purge"),
    (["/dev/nonexistent-disk", "--method", "nvme-format-crypto", "--pattern", "random"],
     "--pattern applies"),
    (["/dev/nonexistent-disk", "--method", "ata-secure-erase", "--passes", "3"],
     "--passes applies"),
    (["/dev/nonexistent-disk", "--verify", "maybe"], "invalid choice"),
    (["/dev/nonexistent-disk", "--level", "destroy"], "invalid choice"),
    (["/dev/nonexistent-disk"], "no such device"),
    (["/dev/null"], "not a block device"),
])
def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                                         needle: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err


def test_regular_file_is_not_a_disk(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "disk.img"
    target.write_bytes(b"keep me" * 100)
    code, _out, err = _run(capsys, str(target), "--yes")
    assert code == 2 and "not a block device" in err
    assert target.read_bytes() == b"keep me" * 100


def test_no_device_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
