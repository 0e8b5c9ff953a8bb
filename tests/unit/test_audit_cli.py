"""`ardoise audit` bad input: one sentence, exit 2, no record."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.cli import main


def test_no_such_device_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "audit", str(tmp_path / "sdz"), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no such device" in err and "Traceback" not in err
    assert not (tmp_path / "validations").exists()


def test_a_file_is_not_a_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(4096))
    assert main(["--lang", "en", "audit", str(image), "--data", str(tmp_path)]) == 2
    assert "not a block device" in capsys.readouterr().err


def test_unknown_option_is_usage(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", "/dev/null", "--pattern", "zero"])
    assert exc.value.code == 2
