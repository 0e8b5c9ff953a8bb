"""The results screen tells the certificate's verdict: an erase without read-back is NOT
VERIFIED (never "Erased and checked"), a disk nothing was done to says it has no
certificate and why. The results come from real jobs on file-backed disks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance import jobs
from appliance.config import parse
from appliance.i18n import set_language
from appliance.inventory import Host
from erasure.disk import Disk
from erasure.plan import make_plan
from tui.app import ArdoiseApp
from tui.results import ResultsScreen

pytestmark = pytest.mark.asyncio
MiB = 1 << 20


def screen_text(app: ArdoiseApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


def file_disk(tmp_path: Path, name: str) -> Disk:
    path = tmp_path / f"{name}.img"
    path.write_bytes(b"donor secret" * (MiB // 12) + b"x" * (MiB % 12))
    return Disk(path=str(path), id=f"file-{name}", model="TestDisk", serial=f"S-{name}",
                size_bytes=path.stat().st_size, logical_block_size=512, transport="loop",
                eligible=True)


def real_result(tmp_path: Path, name: str, config: str = "",
                cancelled: bool = False) -> jobs.JobResult:
    disk = file_disk(tmp_path, name)
    cancel = threading.Event()
    if cancelled:
        cancel.set()
    cfg = parse("erase:\n  level: clear\n" + config)
    run = jobs.Run(cfg, tmp_path / f"data-{name}", [jobs.Target(disk, make_plan(disk, "clear"),
                                                                True)],
                   lambda event: None, cancel, host=Host())
    run.start()
    [result] = run.wait()
    return result


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_unverified_and_untouched_disks_in_plain_words(
        tmp_path: Path, app_for: Callable[..., ArdoiseApp], lang: str) -> None:
    unverified = real_result(tmp_path, "fast", "  verify: none\n")
    untouched = real_result(tmp_path, "stopped", cancelled=True)
    assert unverified.erase_status == "unverified" and untouched.untouched
    app = app_for()
    set_language(lang)
    async with app.run_test(size=(100, 48)) as pilot:  # no QR code beside the text
        app.switch_screen(ResultsScreen([unverified, untouched], cancelled=True))
        await pilot.pause()
        text = " ".join(screen_text(app).replace("|", " ").split())
    if lang == "en":
        assert "0 of 2 disks passed" in text
        assert ("NOT VERIFIED: the erase command ran but nothing was read back; this disk is "
                "not certified as erased. Erase it again with verification.") in text
        assert "Erased and checked" not in text and "PASS" not in text
        assert "Stopped before anything was written: this disk is untouched, NOT erased." in text
        assert "No certificate: nothing was done to this disk." in text
        assert unverified.certificate_id and unverified.certificate_id in text
    else:
        assert "NON VÉRIFIÉ" in text and "pas certifié effacé" in text
        assert "Effacé et vérifié" not in text
        assert "Aucun certificat : rien n’a été fait sur ce disque." in text
