"""The exit-code table (CLI contract, DESIGN.md) and the exceptions that map to it.

Every command of `ardoise` and `ardoise-ledger` ends with one of these codes. A command
raises one of the exceptions below with one sentence that says what to do; the entry point
(appliance.cli.main, ledger.cli.main) prints it, never a traceback, and exits with its code.

    0    success
    1    a target failed or was not certified, or a network or server step failed
    2    usage, config or missing path (nothing was touched)
    3    refused for safety (nothing was touched)
    130  interrupted (SIGINT, Ctrl-C)
    143  stopped (SIGTERM)
"""

from __future__ import annotations

import errno
import socket

from appliance.i18n import N_, Msg, _

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, N_("success")),
    (EXIT_FAILED, N_("a target failed or was not certified, or a network or server step "
                     "failed")),
    (EXIT_USAGE, N_("usage, config or missing path: nothing was touched")),
    (EXIT_REFUSED, N_("refused for safety: nothing was touched")),
    (EXIT_INTERRUPTED, N_("interrupted (Ctrl-C)")),
    (EXIT_TERMINATED, N_("stopped (SIGTERM)")),
)


def exit_table() -> str:
    """The table for people (the `--help` epilog), in the current language."""
    lines = [_("Exit codes:")]
    lines += [f"  {code:<4} {_(text)}" for code, text in EXIT_CODES]
    return "\n".join(lines)


class ArdoiseError(Exception):
    """A failure told in one sentence (str(exc)); `exit_code` from the table."""

    exit_code = EXIT_FAILED


class Failed(ArdoiseError):
    """A step failed (exit 1)."""

    exit_code = EXIT_FAILED


class NetworkError(Failed):
    """A network or server step failed: no connection, a timeout, an HTTP error (exit 1)."""


class UsageError(ArdoiseError):
    """Bad input, configuration or a missing path: exit 2 with a one-line reason."""

    exit_code = EXIT_USAGE


class Refused(ArdoiseError):
    """Refused for safety: exit 3, nothing touched."""

    exit_code = EXIT_REFUSED


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and what requests/urllib3 wrap in args or
    `.reason` (a MaxRetryError holds the NewConnectionError that holds the OSError)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        e = todo.pop(0)
        if any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [x for x in (e.__cause__, e.__context__, getattr(e, "reason", None), *e.args)
                 if isinstance(x, BaseException)]
    return seen


def network_reason(exc: BaseException) -> Msg:
    """Plain words (a Msg: English value, translated by tr()) for why an HTTP request failed: what a person can act on,
    without the library's own text (HTTPConnectionPool..., [Errno 111])."""
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    if names & {"MissingSchema", "InvalidSchema", "InvalidURL", "URLRequired", "LocationParseError"}:
        return Msg("not an http:// or https:// address")
    if names & {"SSLError", "SSLCertVerificationError"}:
        return Msg("the server's TLS certificate is not trusted")
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolutionError" in names:
        return Msg("unknown host name")
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return Msg("connection refused: is the server running, and is the port right?")
    if names & {"ConnectTimeout", "ReadTimeout", "Timeout", "TimeoutError", "ConnectTimeoutError",
                "ReadTimeoutError"} or any(isinstance(e, TimeoutError) for e in chain):
        return Msg("no answer in time")
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return Msg("no route to the server: is the network cable connected?")
    if names & {"ChunkedEncodingError", "ProtocolError", "RemoteDisconnected",
                "ConnectionResetError", "IncompleteRead"}:
        return Msg("the connection was cut")
    return Msg("no connection to the server")


def from_library(exc: BaseException) -> ArdoiseError | None:
    """The table's exception for a library exception that reached a command boundary
    unhandled: an HTTP client failure is a NetworkError (exit 1) in plain words."""
    module = type(exc).__module__ or ""
    if module.startswith(("requests", "urllib3", "http.client")):
        return NetworkError(_("network failure: {reason}").format(reason=network_reason(exc)
                                                                   .localise(_)))
    return None


_OS_REASONS = {
    errno.ENOENT: N_("no such file or directory"),
    errno.EACCES: N_("permission denied"),
    errno.EPERM: N_("permission denied"),
    errno.ENOTDIR: N_("a part of the path is not a directory"),
    errno.EISDIR: N_("it is a directory"),
    errno.EEXIST: N_("it exists already"),
    errno.ENOSPC: N_("no space left on the device"),
    errno.EROFS: N_("the file system is read-only"),
    errno.EBUSY: N_("the device is busy"),
    errno.EIO: N_("input/output error"),
    errno.EADDRINUSE: N_("the address is already in use"),
    errno.EADDRNOTAVAIL: N_("the address is not one of this machine's"),
}


def os_reason(exc: OSError) -> Msg:
    """An OSError in plain words (a Msg, translated by tr()), without the [Errno N] prefix."""
    text = _OS_REASONS.get(exc.errno or -1)
    return Msg(text) if text else Msg(exc.strerror or type(exc).__name__)
