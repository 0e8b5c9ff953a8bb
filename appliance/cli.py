"""The `ardoise` command (CLI contract in DESIGN.md).

Each subcommand lives in appliance/commands/<name>.py with `register(subparsers, common)`.
Exit codes: the one table in appliance/errors.py (shown by `ardoise --help`). A command
raises an appliance.errors exception with one sentence; main() prints it and exits with its
code. No traceback reaches a person (-v logs it).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from appliance import __version__
from appliance.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ArdoiseError,
    exit_table,
    from_library,
    os_reason,
)
from appliance.i18n import _, posix_language, route_argparse, set_language, tr
from appliance.paths import default_data_dir

COMMANDS = ("disks", "probe", "wipe", "image", "run", "tui", "cert", "spool", "keygen", "site",
            "preflight", "audit", "device")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # one line, no usage dump, exit 2 (CLI contract)
        print(_("{prog}: error: {message}").format(prog=self.prog, message=message),
              file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def kernel_cmdline_value(key: str, cmdline: str = "/proc/cmdline") -> str | None:
    """`key=value` from the kernel command line (ARDOISE_CMDLINE, when set, stands for it:
    rack mode on a machine that was not netbooted, and the tests)."""
    try:
        words = (os.environ.get("ARDOISE_CMDLINE") or Path(cmdline).read_text()).split()
    except OSError:
        return None
    for word in words:
        if word.startswith(key + "="):
            return word.split("=", 1)[1]
    return None


def requested_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line, if any (the first word that is not an
    option or the value of --lang)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--lang":
            skip = True
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's module is imported (a faster start:
    some commands pull in heavy libraries the others do not need)."""
    common = Parser(add_help=False)
    common.add_argument("--json", action="store_true", help=_("one JSON document on stdout"))
    common.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help=_("data directory (keys, journal, spool, images)"))
    common.add_argument("--lang", default=None, metavar="fr|en", help=_("language for people"))
    common.add_argument("-v", "--verbose", action="store_true", help=_("log details on stderr"))
    parser = Parser(prog="ardoise", description=_("Erase, image and certify disks."),
                    epilog=exit_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ardoise {__version__}")
    parser.add_argument("--lang", dest="top_lang", default=None, metavar="fr|en",
                        help=_("language for people"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in (only,) if only else COMMANDS:
        module = importlib.import_module(f"appliance.commands.{name}")
        module.register(sub, common)
    return parser


def _early_language(argv: list[str]) -> None:
    """--lang, else ARDOISE_LANG or ardoise.lang= (the live image), else the POSIX locale
    (LC_ALL, LC_MESSAGES, LANG: "C" reads English). argparse speaks it too."""
    route_argparse()
    lang = None
    for i, word in enumerate(argv):
        if word == "--lang" and i + 1 < len(argv):
            lang = argv[i + 1]
        elif word.startswith("--lang="):
            lang = word.split("=", 1)[1]
    set_language(lang or os.environ.get("ARDOISE_LANG") or kernel_cmdline_value("ardoise.lang")
                 or posix_language())


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        return _broken_pipe()


def _broken_pipe() -> int:
    """The reader went away (`ardoise spool list --json | head`): the Python recipe, so the
    interpreter's last flush of stdout does not fail again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_FAILED


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if requested_command(argv) is None and "--version" in argv:
        print(f"ardoise {__version__}")  # without importing every command (the boot waits)
        return 0
    _early_language(argv)
    args = build_parser(requested_command(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.data is None:
        args.data = default_data_dir()
    try:
        return int(args.func(args))
    except ArdoiseError as exc:
        print(f"ardoise: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ardoise: " + _("interrupted"), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the last guard: one line, details with -v
        return _unhandled(exc)


def _unhandled(exc: Exception) -> int:
    """What no command mapped itself: a network failure (requests' exceptions are OSErrors
    too), a path, or a bug; one line, the traceback only with -v."""
    logging.getLogger("ardoise").debug("unhandled", exc_info=True)
    mapped = from_library(exc)
    if mapped is not None:
        print(f"ardoise: {mapped}", file=sys.stderr)
        return mapped.exit_code
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        print("ardoise: " + where + tr(os_reason(exc)), file=sys.stderr)
        missing = isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError |
                             PermissionError)
        return EXIT_USAGE if missing else EXIT_FAILED
    print("ardoise: " + _("unexpected error ({kind}: {error}); run again with -v for the "
                          "details and report it").format(kind=type(exc).__name__, error=exc),
          file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
