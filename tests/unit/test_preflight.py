"""Preflight: the image (present, signed by a trusted publisher, complete, fits each disk) and
the ledger checks that need no server (no ledger, no key, no network). Images are built by
appliance.imaging.build from a small raw file, as `ardoise image build` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import config, jobs, preflight
from appliance.certificate import public_pem
from appliance.certify import generate_key
from appliance.imaging.build import build_image
from erasure.disk import Disk

MiB = 1024 * 1024


def disk(path: str = "/dev/sda", size: int = 64 * MiB) -> Disk:
    return Disk(path=path, id=f"id-{path}", model="QEMU HARDDISK", serial="QM0001",
                size_bytes=size, logical_block_size=512, transport="sata", eligible=True)


def target(d: Disk) -> jobs.Target:
    return jobs.Target(d, None, True)


@pytest.fixture
def image(tmp_path: Path) -> tuple[Path, Path]:
    """A 16 MiB signed image (manifest path) and its publisher's public key."""
    source = tmp_path / "os.img"
    with open(source, "wb") as fh:
        fh.write(os.urandom(MiB))
        fh.truncate(16 * MiB)
    key = Ed25519PrivateKey.generate()
    result = build_image(source, tmp_path / "images", name="demo-os", version="3",
                         sign_key=key, workers=1, raw=("all",))  # no file system: copied whole
    pub = tmp_path / "publisher.pem"
    pub.write_bytes(public_pem(key.public_key()))
    return Path(result.manifest_path), pub


def cfg(tmp_path: Path, text: str) -> config.Config:
    return config.parse(text, source=str(tmp_path / "ardoise.yaml"), base=tmp_path)


def image_yaml(manifest: Path | str, trust: Path | None = None, required: bool = True) -> str:
    lines = f"image:\n  manifest: {manifest}\n  required: {'true' if required else 'false'}\n"
    return lines + (f"  trust: [{trust}]\n" if trust else "")


def states(checks: list[preflight.Check]) -> list[str]:
    return [c.state for c in checks]


def test_good_image_that_fits_is_ok(tmp_path: Path, image: tuple[Path, Path]) -> None:
    manifest, pub = image
    checks = preflight.image_checks(cfg(tmp_path, image_yaml(manifest, pub)), tmp_path / "data",
                                    [target(disk())])
    assert states(checks) == ["ok", "ok"]
    assert checks[0].text.startswith("System image demo-os 3: complete, signed by a trusted")
    assert checks[1].text == "The image fits every disk to erase (16.8\u00a0MB needed)."


def test_publisher_key_in_the_data_partition_is_trusted(tmp_path: Path,
                                                         image: tuple[Path, Path]) -> None:
    manifest, pub = image
    trusted = tmp_path / "data" / "keys" / "trusted"
    trusted.mkdir(parents=True)
    (trusted / "publisher.pem").write_bytes(pub.read_bytes())
    checks = preflight.image_checks(cfg(tmp_path, image_yaml(manifest)), tmp_path / "data",
                                    [target(disk())])
    assert states(checks) == ["ok", "ok"]


def test_untrusted_image_is_a_problem_naming_the_trust_folder(tmp_path: Path,
                                                               image: tuple[Path, Path]) -> None:
    manifest, _pub = image
    result = preflight.check(cfg(tmp_path, image_yaml(manifest)), tmp_path / "data",
                             [target(disk())], ledger=False)
    [c] = result.checks
    assert result.blocked and (c.code, c.state) == ("image-untrusted", "problem")
    assert "not signed by a publisher this appliance trusts" in c.text
    assert str(tmp_path / "data" / "keys" / "trusted") in c.action


def test_image_signed_by_another_publisher(tmp_path: Path, image: tuple[Path, Path]) -> None:
    manifest, _pub = image
    other = tmp_path / "other.pem"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    [c] = preflight.image_checks(cfg(tmp_path, image_yaml(manifest, other)), tmp_path,
                                 [target(disk())])
    assert c.state == "problem" and "signed by an unknown key" in c.text


def test_missing_manifest_required_problem_optional_warning(tmp_path: Path) -> None:
    gone = tmp_path / "images" / "nothing.manifest.json"
    [c] = preflight.image_checks(cfg(tmp_path, image_yaml(gone)), tmp_path, [target(disk())])
    assert c.state == "problem"
    assert c.text == (f"The system image cannot be read: cannot read manifest {gone}: "
                      "no such file or directory.")
    assert "Copy the image (NAME.manifest.json and NAME.data) to the stick" in c.action
    [w] = preflight.image_checks(cfg(tmp_path, image_yaml(gone, required=False)), tmp_path,
                                 [target(disk())])
    assert w.state == "warning" and "reported FAIL when the image cannot be written" in w.text


def test_missing_or_short_data_file(tmp_path: Path, image: tuple[Path, Path]) -> None:
    manifest, pub = image
    data = manifest.parent / "demo-os.data"
    whole = data.read_bytes()
    data.write_bytes(whole[: len(whole) // 2])
    [c] = preflight.image_checks(cfg(tmp_path, image_yaml(manifest, pub)), tmp_path,
                                 [target(disk())])
    assert c.state == "problem" and "missing or incomplete" in c.text
    assert f"holds {len(whole) // 2} bytes of {len(whole)}" in c.text
    data.unlink()
    [c] = preflight.image_checks(cfg(tmp_path, image_yaml(manifest, pub)), tmp_path,
                                 [target(disk())])
    assert c.state == "problem" and "no such file or directory" in c.text.lower()


def test_damaged_manifest(tmp_path: Path, image: tuple[Path, Path]) -> None:
    manifest, pub = image
    manifest.write_bytes(manifest.read_bytes()[:100])
    [c] = preflight.image_checks(cfg(tmp_path, image_yaml(manifest, pub)), tmp_path,
                                 [target(disk())])
    assert c.state == "problem" and c.text.startswith("The image manifest is damaged:")


def test_disk_too_small_for_the_image(tmp_path: Path, image: tuple[Path, Path]) -> None:
    manifest, pub = image
    checks = preflight.image_checks(cfg(tmp_path, image_yaml(manifest, pub)), tmp_path,
                                    [target(disk("/dev/sda")), target(disk("/dev/sdb", 8 * MiB))])
    assert [c.code for c in checks] == ["image-ok", "image-too-small"]
    assert states(checks) == ["ok", "problem"]
    assert checks[1].text == ("/dev/sdb holds 8.4\u00a0MB, the image demo-os needs "
                              "16.8\u00a0MB.")


def test_required_image_without_manifest(tmp_path: Path) -> None:
    [c] = preflight.image_checks(cfg(tmp_path, "image:\n  required: true\n"), tmp_path, [])
    assert c.state == "problem" and "image.required" in c.text
    assert preflight.image_checks(cfg(tmp_path, ""), tmp_path, []) == []


def test_no_ledger_is_a_warning(tmp_path: Path) -> None:
    [c] = preflight.ledger_checks(cfg(tmp_path, ""), tmp_path)
    assert c.state == "warning" and c.text == ("No ledger is configured: the certificates "
                                               "stay on the stick.")


def test_ledger_without_a_key_is_a_problem(tmp_path: Path) -> None:
    [c] = preflight.ledger_checks(cfg(tmp_path, "ledger:\n  url: http://127.0.0.1:9\n"),
                                  tmp_path / "data")
    assert c.state == "problem"
    assert f"ardoise keygen --data {tmp_path / 'data'}" in c.action
    assert f"--pubkey {tmp_path / 'data' / 'keys' / 'appliance.pub.pem'}" in c.action


def test_offline_is_a_warning_that_says_the_certificates_wait(tmp_path: Path) -> None:
    generate_key(tmp_path / "data" / "keys")
    [c] = preflight.ledger_checks(cfg(tmp_path, "ledger:\n  url: http://127.0.0.1:9\n"),
                                  tmp_path / "data", link_up=lambda: False)
    assert c.state == "warning"
    assert c.text == ("No network: the certificates will wait on the stick until a network "
                      "is available.")


def test_printed_checks_say_what_to_do(tmp_path: Path) -> None:
    lines: list[str] = []
    result = preflight.Preflight([preflight.Check("ledger-no-key", "problem", "Broken.",
                                                  "Fix it.")])
    preflight.print_checks(result, lines.append)
    assert lines == ["PROBLEM  Broken.", "         What to do: Fix it."]
    assert result.to_json() == {"blocked": True, "checks": [
        {"topic": "ledger", "code": "ledger-no-key", "state": "problem"}]}


def test_json_does_not_change_with_the_language(tmp_path: Path) -> None:
    from appliance.i18n import set_language

    gone = tmp_path / "images" / "nothing.manifest.json"
    documents = []
    for lang in ("en", "fr"):
        set_language(lang)
        documents.append(preflight.check(cfg(tmp_path, image_yaml(gone)), tmp_path,
                                         [target(disk())], ledger=False).to_json())
    set_language("en")
    assert documents[0] == documents[1] == {"blocked": True, "checks": [
        {"topic": "image", "code": "image-unreadable", "state": "problem"}]}


def test_preflight_command_exit_codes(tmp_path: Path, image: tuple[Path, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli import main

    manifest, pub = image
    good = tmp_path / "good.yaml"
    good.write_text(image_yaml(manifest, pub))
    assert main(["preflight", "--config", str(good), "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok       System image demo-os 3: complete")
    assert out[1] == ("WARNING  No ledger is configured: the certificates stay on the stick.")
    bad = tmp_path / "bad.yaml"
    bad.write_text(image_yaml(tmp_path / "gone.manifest.json"))
    assert main(["preflight", "--config", str(bad), "--data", str(tmp_path / "data"),
                 "--json"]) == 2
    import json

    document = json.loads(capsys.readouterr().out)
    assert document["blocked"] is True and document["checks"][0]["code"] == "image-unreadable"
    assert not (tmp_path / "data").exists()  # nothing written, not even the data folder


def test_image_over_http_is_checked_with_a_head_of_its_data(tmp_path: Path,
                                                            image: tuple[Path, Path]) -> None:
    """A static HTTP server on 127.0.0.1 (http.server) serves the image folder."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    manifest, pub = image

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        Quiet, directory=str(manifest.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{manifest.name}"
        checks = preflight.image_checks(cfg(tmp_path, image_yaml(url, pub)), tmp_path,
                                        [target(disk())])
        assert [c.code for c in checks] == ["image-ok", "image-fits"]
        (manifest.parent / "demo-os.data").unlink()
        [c] = preflight.image_checks(cfg(tmp_path, image_yaml(url, pub)), tmp_path,
                                     [target(disk())])
        assert c.code == "image-data-missing" and c.text.endswith(
            f"{url.rsplit('/', 1)[0]}/demo-os.data: HTTP 404.")
    finally:
        server.shutdown()
        thread.join(timeout=10)
