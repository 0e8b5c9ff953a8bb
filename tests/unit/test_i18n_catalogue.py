"""Finding the catalogue: the .mo when it is current, else the .po itself, else English
with one warning on stderr (never silently); argparse's words and the POSIX locale."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import i18n
from appliance.cli import main

PO = Path(i18n.__file__).parent / "locale" / "fr" / "LC_MESSAGES" / "ardoise.po"


@pytest.fixture
def locale_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    target = tmp_path / "locale" / "fr" / "LC_MESSAGES"
    target.mkdir(parents=True)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    i18n._cache.clear()
    yield target
    i18n._cache.clear()
    i18n.set_language("en")


def french(message: str) -> str:
    i18n.set_language("fr")
    return i18n._(message)


def test_without_a_compiled_catalogue_the_po_is_read(locale_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(PO, locale_dir / "ardoise.po")
    assert french("Certificate of media sanitization") == "Certificat d’effacement des supports"
    assert capsys.readouterr().err == ""


def test_a_compiled_catalogue_older_than_its_po_gives_way(locale_dir: Path) -> None:
    (locale_dir / "ardoise.mo").write_bytes(b"not a catalogue")
    shutil.copy(PO, locale_dir / "ardoise.po")
    old = (locale_dir / "ardoise.po").stat().st_mtime - 60
    os.utime(locale_dir / "ardoise.mo", (old, old))
    assert french("ERASED") == "EFFACÉ"


def test_a_missing_catalogue_is_said_once(locale_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert french("ERASED") == "ERASED"
    assert french("FAILED") == "FAILED"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no catalogue" in err and "English" in err


@pytest.fixture
def english_afterwards() -> Iterator[None]:
    yield
    i18n.set_language("en")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.usefixtures("english_afterwards")
def test_argparse_speaks_french(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["--lang", "fr", "wipe"], capsys)
    assert code == 2 and "erreur\u00a0: les arguments suivants sont obligatoires\u00a0: DEVICE" in err
    code, err = run(["--lang", "fr", "cert", "bogus"], capsys)
    assert code == 2 and "choix invalide\u00a0: 'bogus' (choisir parmi" in err
    code, err = run(["--lang", "fr", "wipe", "/dev/x", "--verify", "most"], capsys)
    assert code == 2 and "argument --verify\u00a0: choix invalide" in err
    code, err = run(["--lang", "en", "wipe"], capsys)
    assert "error: the following arguments are required: DEVICE" in err


@pytest.mark.usefixtures("english_afterwards")
@pytest.mark.parametrize("env, words", [
    ({"LANG": "fr_CA.UTF-8"}, "obligatoires"),
    ({"LC_ALL": "fr_CH.UTF-8", "LANG": "en_US.UTF-8"}, "obligatoires"),
    ({"LC_ALL": "C", "LANG": "fr_CA.UTF-8"}, "required"),
    ({"LANG": "en_CA.UTF-8", "ARDOISE_LANG": "fr"}, "obligatoires"),
])
def test_the_posix_locale_is_honoured_without_lang(env: dict[str, str], words: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "ARDOISE_LANG", "ARDOISE_CMDLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARDOISE_CMDLINE", "quiet")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, err = run(["wipe"], capsys)
    assert code == 2 and words in err
    code, err = run(["--lang", "en", "wipe"], capsys)
    assert "required" in err  # --lang wins


@pytest.mark.usefixtures("english_afterwards")
def test_cert_and_spool_list_follow_the_configs_language(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    from appliance import certify
    from tests.unit import certsample

    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "ARDOISE_LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARDOISE_CMDLINE", "quiet")
    data = tmp_path / "data"
    cert = certify.issue(certsample.document(), data)
    (data / "ardoise.yaml").write_text("language: fr\n")
    assert main(["cert", "show", str(cert), "--data", str(data)]) == 0
    assert "Effacement\u00a0: effacé" in capsys.readouterr().out
    assert main(["spool", "list", "--data", str(data)]) == 0
    assert "1 en attente" in capsys.readouterr().out
    assert main(["--lang", "en", "spool", "list", "--data", str(data)]) == 0
    assert "1 pending" in capsys.readouterr().out  # --lang wins over the config


@pytest.mark.usefixtures("english_afterwards")
def test_ledger_command_speaks_the_locale(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.cli import main as ledger_main

    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "fr_CA.UTF-8")
    with pytest.raises(SystemExit) as exc:
        ledger_main(["enroll"])
    assert exc.value.code == 2
    assert "les arguments suivants sont obligatoires" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ledger_main(["--lang", "en", "enroll"])
    assert "the following arguments are required" in capsys.readouterr().err
