"""A plain `pip install` speaks French: the wheel carries the compiled catalogue (setup.py's
build hook), and an editable install of a tree that never ran `make venv` reads the .po.

The project is copied as git tracks it (no .mo: it is ignored), built with pip, installed
with --no-deps --no-index into a fresh venv that reaches the lead venv's dependencies
through a .pth line, and `ardoise --lang fr` runs from there, in a clean environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PO = "appliance/locale/fr/LC_MESSAGES/ardoise.po"

pytestmark = pytest.mark.integration


def sh(argv: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None,
       check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=check)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """The tracked files only (what a clone or an sdist has: no compiled catalogue)."""
    out = tmp_path / "src"
    files = sh(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file() and not name.startswith(("tests/", "image-build/", "docs/", "bench/")):
            dst = out / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    assert (out / PO).exists() and not (out / PO).with_suffix(".mo").exists()
    return out


def fresh_venv(where: Path) -> Path:
    """A venv whose own site-packages come first; the dependencies (babel, fpdf2...) come
    from this interpreter's site-packages, added as a plain path (its editable finder for
    the checkout is not run: the installed copy is the one imported)."""
    venv.EnvBuilder(with_pip=False).create(where)
    site = Path(sh([where / "bin" / "python", "-c",
                    "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return where / "bin" / "python"


def pip(python: Path, *args: str | Path) -> None:
    sh([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", "--no-build-isolation", *args])


def ardoise_fr(python: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    return sh([python.parent / "ardoise", "--lang", "fr", "wipe"], cwd=cwd, env=env,
              check=False)


def where_from(python: Path, cwd: Path) -> str:
    return sh([python, "-c", "import appliance; print(appliance.__file__)"], cwd=cwd).stdout


def test_wheel_carries_the_catalogue(source: Path, tmp_path: Path) -> None:
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", tmp_path / "dist", source])
    wheel = next((tmp_path / "dist").glob("ardoise-*.whl"))
    python = fresh_venv(tmp_path / "venv")
    pip(python, wheel)
    run = tmp_path / "elsewhere"
    run.mkdir()
    assert str(tmp_path / "venv") in where_from(python, run)
    result = ardoise_fr(python, run)
    assert result.returncode == 2
    assert "les arguments suivants sont obligatoires" in result.stderr, result.stderr
    assert "catalogue" not in result.stderr  # found, so no warning


def test_editable_install_speaks_french(source: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip(python, "-e", source)
    run = tmp_path / "elsewhere"
    run.mkdir()
    assert str(source) in where_from(python, run)
    (source / PO).with_suffix(".mo").unlink(missing_ok=True)  # as in a tree never built
    result = ardoise_fr(python, run)
    assert "les arguments suivants sont obligatoires" in result.stderr, result.stderr
    assert "catalogue" not in result.stderr
