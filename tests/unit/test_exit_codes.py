"""One exit-code table (appliance/errors.py) for every command, and one plain sentence for
every ordinary mistake: each subcommand of `ardoise` and `ardoise-ledger` run in-process
on bad input (missing paths, files that are not what the option wants, a raw disk image
where a manifest, certificate, config or key belongs, addresses that are not http(s), a
ledger port nobody listens on) gives its table code, says something on stderr, and shows
no traceback or library text. Cases that need block devices, subprocesses or HTTP error
pages are in tests/integration/test_bad_inputs.py."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import certify, errors
from appliance.cli import main
from appliance.i18n import set_language
from ledger.cli import main as ledger_main
from tests.unit import certsample


@pytest.fixture(autouse=True)
def _english_afterwards() -> Iterator[None]:
    """main() sets the language for the process: the next tests expect English."""
    set_language("en")
    yield
    set_language("en")


FORBIDDEN = ("Traceback", "Errno", "HTTPConnectionPool", "codec", "MissingSchema",
             "Max retries", "Unable to load PEM")


def test_the_table_is_the_contract() -> None:
    assert (errors.EXIT_OK, errors.EXIT_FAILED, errors.EXIT_USAGE, errors.EXIT_REFUSED,
            errors.EXIT_INTERRUPTED, errors.EXIT_TERMINATED) == (0, 1, 2, 3, 130, 143)
    assert [code for code, _text in errors.EXIT_CODES] == [0, 1, 2, 3, 130, 143]
    assert errors.UsageError.exit_code == 2 and errors.Refused.exit_code == 3
    assert errors.NetworkError.exit_code == errors.Failed.exit_code == 1
    assert issubclass(errors.NetworkError, errors.ArdoiseError)


@pytest.mark.parametrize("lang, words", [("en", "refused for safety"),
                                         ("fr", "refusé par sécurité")])
def test_help_shows_the_table(lang: str, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--lang", lang, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for code in ("0", "1", "2", "3", "130", "143"):
        assert f"\n  {code:<4} " in out
    assert words in out


def test_ledger_help_shows_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(ledger_main, ["--help"]) == 0
    out = capsys.readouterr().out
    assert "Exit codes:" in out and "\n  143  " in out


@pytest.fixture
def world(tmp_path: Path) -> dict[str, str]:
    """Files for the bad inputs: a raw disk image (zeros, then random bytes: what `json`
    reads as UTF-32), JSON that is no certificate, a data directory with a key and one
    pending certificate, and a local port nobody listens on."""
    raw = tmp_path / "disk.img"
    raw.write_bytes(bytes(8192) + os.urandom(8192))
    (tmp_path / "other.json").write_text('{"hello": 1}\n')
    (tmp_path / "plain.txt").write_text("not a device\n")
    data = tmp_path / "data"
    cert = certify.issue(certsample.document(), data)  # makes DATA/keys/appliance.key too
    tampered = tmp_path / "tampered.json"
    tampered.write_text(cert.read_text().replace("X9PPT1MFQBB1", "X9PPT1MFQBB7"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nobody listens
    return {"raw": str(raw), "json": str(tmp_path / "other.json"),
            "file": str(tmp_path / "plain.txt"), "missing": str(tmp_path / "missing"),
            "data": str(data), "cert": str(cert), "tampered": str(tampered),
            "pub": str(data / "keys" / "appliance.pub.pem"), "tmp": str(tmp_path),
            "closed": f"http://127.0.0.1:{port}", "db": str(tmp_path / "ledger.db")}


# (argv, exit code): every subcommand, each with the mistakes a person makes
ARDOISE = [
    (["disks", "--bogus"], 2),
    (["probe"], 2),
    (["probe", "/dev/nosuch"], 2),
    (["probe", "{file}"], 2),
    (["probe", "--smartctl", "{missing}"], 2),
    (["probe", "--smartctl", "{raw}"], 2),
    (["probe", "--hdparm", "{raw}"], 2),
    (["wipe", "/dev/nosuch"], 2),
    (["wipe", "{file}"], 2),
    (["wipe", "/dev/nosuch", "--method", "bogus"], 2),
    (["wipe", "/dev/nosuch", "--block-size", "3"], 2),
    (["image", "build", "{raw}", "--out", "{tmp}/out", "--level", "99"], 2),
    (["image", "build", "{missing}", "--out", "{tmp}/out"], 2),
    (["image", "build", "{raw}", "--out", "{file}"], 2),
    (["image", "build", "{raw}", "--out", "{tmp}/out", "--sign-key", "{raw}"], 2),
    (["image", "build", "{raw}", "--out", "{tmp}/out", "--sign-key", "{missing}"], 2),
    (["image", "build", "{raw}", "--out", "{tmp}/out", "--bmap", "{raw}"], 2),
    (["image", "write", "{raw}", "/dev/nosuch", "--yes"], 2),
    (["image", "write", "{missing}", "/dev/nosuch", "--yes"], 2),
    (["image", "write", "ftp://127.0.0.1/x.manifest.json", "/dev/nosuch", "--yes"], 2),
    (["image", "write", "http:///x.manifest.json", "/dev/nosuch", "--yes"], 2),
    (["image", "write", "{json}", "/dev/nosuch", "--trust", "{missing}", "--yes"], 2),
    (["image", "write", "{json}", "/dev/nosuch", "--yes"], 2),
    (["image", "hash", "/dev/nosuch", "--manifest", "{raw}"], 2),
    (["image", "hash", "{file}", "--manifest", "{json}"], 2),
    (["run", "--device", "/dev/nosuch", "--yes"], 2),
    (["run", "--config", "{missing}", "--yes"], 2),
    (["run", "--config", "{raw}", "--yes"], 2),
    (["tui", "--device", "/dev/nosuch"], 2),
    (["tui", "--config", "{missing}"], 2),
    (["cert", "show", "{missing}"], 2),
    (["cert", "show", "{raw}"], 2),
    (["cert", "show", "{json}"], 2),
    (["cert", "verify", "{raw}"], 2),
    (["cert", "verify", "{tampered}", "--data", "{data}"], 1),
    (["cert", "verify", "{cert}", "--pubkey", "{raw}"], 2),
    (["cert", "pdf", "{raw}", "--out", "{tmp}/x.pdf"], 2),
    (["cert", "pdf", "{json}", "--out", "{tmp}/x.pdf"], 2),
    (["cert", "pdf", "{cert}", "--data", "{data}", "--out", "{missing}/x.pdf"], 2),
    (["spool", "list", "--data", "{file}"], 2),
    (["spool", "flush", "--data", "{data}"], 2),
    (["spool", "flush", "--data", "{data}", "--ledger", "127.0.0.1:8080"], 2),
    (["spool", "flush", "--data", "{data}", "--ledger", "{closed}"], 1),
    (["keygen", "--data", "{data}"], 3),
    (["keygen", "--out", "{file}"], 2),
    (["site", "keygen", "--out", "{file}"], 2),
    (["site", "sign", "{missing}", "--key", "{raw}"], 2),
    (["site", "sign", "{json}", "--key", "{raw}"], 2),
    (["site", "verify", "{missing}", "--pubkey", "{pub}"], 2),
    (["site", "verify", "{json}", "--pubkey", "{raw}"], 2),
    (["site", "verify", "{closed}/rack.yaml", "--pubkey", "{pub}"], 1),
]

LEDGER = [
    (["serve", "--netboot", "{missing}", "--db", "{db}"], 2),
    (["serve", "--tls-cert", "{missing}", "--tls-key", "{missing}", "--db", "{db}"], 2),
    (["enroll", "--name", "a", "--pubkey", "{missing}", "--db", "{db}"], 2),
    (["enroll", "--name", "a", "--pubkey", "{raw}", "--db", "{db}"], 2),
    (["token", "create", "--db", "{missing}/ledger.db"], 2),
    (["token", "create", "--db", "foo://bar"], 2),
    (["verify-log", "--db", "{raw}"], 2),
]


def _exit(entry, argv: list[str]) -> int:  # type: ignore[no-untyped-def]
    """The process exit code: argparse's usage errors leave through SystemExit."""
    try:
        return int(entry(argv))
    except SystemExit as stop:
        return int(stop.code or 0)


def _fill(argv: list[str], world: dict[str, str]) -> list[str]:
    return [a.format(**world) for a in argv]


def _check(code: int, expected: int, out: str, err: str) -> None:
    said = err.strip() or out.strip()
    assert code == expected, said
    assert said, "an error must say something"
    for word in FORBIDDEN:
        assert word not in err and word not in out, f"{word!r} shown: {said}"


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("argv, expected", ARDOISE, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else str(v))
def test_ardoise_bad_input(argv: list[str], expected: int, lang: str, world: dict[str, str],
                           capsys: pytest.CaptureFixture[str]) -> None:
    code = _exit(main, ["--lang", lang, *_fill(argv, world)])
    out, err = capsys.readouterr()
    _check(code, expected, out, err)


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("argv, expected", LEDGER, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else str(v))
def test_ledger_bad_input(argv: list[str], expected: int, lang: str, world: dict[str, str],
                          capsys: pytest.CaptureFixture[str]) -> None:
    code = _exit(ledger_main, ["--lang", lang, *_fill(argv, world)])
    out, err = capsys.readouterr()
    _check(code, expected, out, err)


def test_messages_are_translated(world: dict[str, str],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = _fill(["image", "write", "{raw}", "/dev/nosuch", "--yes"], world)
    assert main(["--lang", "en", *argv]) == 2
    en = capsys.readouterr().err
    assert main(["--lang", "fr", *argv]) == 2
    fr = capsys.readouterr().err
    assert "is not an image manifest" in en and "ardoise image build" in en
    assert "n’est pas un manifeste d’image" in fr


def test_spool_flush_to_a_closed_port_says_why(world: dict[str, str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "spool", "flush", "--data", world["data"], "--ledger",
                 world["closed"], "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["pending"] == 1
    assert doc["error"].startswith("connection refused")  # JSON stays English
    assert main(["--lang", "fr", "spool", "flush", "--data", world["data"], "--ledger",
                 world["closed"]]) == 1
    assert "connexion refusée" in capsys.readouterr().out


def test_a_failed_build_leaves_nothing_behind(world: dict[str, str]) -> None:
    out = Path(world["tmp"]) / "out"
    assert main(["image", "build", world["raw"], "--out", str(out), "--level", "99"]) == 2
    assert not out.exists()
    out.mkdir()
    (out / "disk.manifest.json").write_text("{}")  # an earlier build's files are kept
    assert main(["image", "build", world["raw"], "--out", str(out), "--bmap",
                 world["raw"]]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["disk.manifest.json"]


def test_network_reasons_are_plain_words(world: dict[str, str]) -> None:
    import requests

    def reason(url: str) -> str:
        try:
            requests.get(url, timeout=5)
        except requests.RequestException as exc:
            return errors.network_reason(exc)
        raise AssertionError("the request should fail")

    assert reason(world["closed"]).startswith("connection refused")
    assert reason("127.0.0.1:8080/x") == "not an http:// or https:// address"
    assert reason("ftp://127.0.0.1/x") == "not an http:// or https:// address"


def test_os_reasons_have_no_errno() -> None:
    try:
        open("/nonexistent/dir/file")
    except OSError as exc:
        assert errors.os_reason(exc) == "no such file or directory"


def test_every_message_is_said_in_french(world: dict[str, str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    same = []
    for argv, _expected in ARDOISE:
        said = {}
        for lang in ("en", "fr"):
            _exit(main, ["--lang", lang, *_fill(argv, world)])
            out, err = capsys.readouterr()
            said[lang] = err.strip() or out.strip()
        if said["en"] == said["fr"]:
            same.append(f"{' '.join(argv)}: {said['en']}")
    assert not same, "not translated:\n" + "\n".join(same)


def test_a_network_failure_no_command_caught_is_exit_1(world: dict[str, str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import requests

    from appliance import cli

    try:
        requests.get(world["closed"], timeout=5)
    except requests.RequestException as exc:
        mapped = errors.from_library(exc)
        assert isinstance(mapped, errors.NetworkError) and mapped.exit_code == 1
        assert cli._unhandled(exc) == 1
    err = capsys.readouterr().err
    assert err.startswith("ardoise: network failure: connection refused")
    assert "HTTPConnectionPool" not in err and "Errno" not in err
    assert errors.from_library(ValueError("x")) is None

