"""`ardoise-ledger`: serve the ledger, enroll and revoke appliance keys, create tokens,
verify the log."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from appliance.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    exit_table,
    os_reason,
)
from appliance.i18n import _, posix_language, route_argparse, set_language, tr


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None,
                   help=_("SQLite file or postgresql:// URL (default: ./ardoise-ledger.db)"))
    p.add_argument("--log-key", type=Path, default=None, metavar="FILE",
                   help=_("the log's signing key, kept outside the database (default: "
                          "beside a SQLite file, else $ARDOISE_LEDGER_LOG_KEY or "
                          "/var/lib/ardoise-ledger/log-key.pem); created on first start"))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ardoise-ledger",
                                 description=_("Ardoise ledger: certificates in a verifiable log"),
                                 epilog=exit_table(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lang", default=None, help=_("language of messages (en, fr)"))
    sub = ap.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help=_("run the ledger web server"))
    _db(s)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--tls-cert", type=Path, default=None)
    s.add_argument("--tls-key", type=Path, default=None)
    s.add_argument("--netboot", type=Path, default=None,
                   help=_("directory served under /netboot/ for rack machines"))
    s.add_argument("--lost-after", type=float, default=120.0,
                   help=_("seconds without heartbeat before a machine is shown as lost"))
    s.add_argument("--workers", type=int, default=1,
                   help=_("server processes (they share the database; appends stay serialised)"))
    s.add_argument("--log-level", default="info")
    s.add_argument("--witness", action="append", default=[], metavar="URL=VKEY",
                   help=_("submit each new checkpoint to this tlog-witness (repeatable)"))
    s.add_argument("--access-log", action="store_true", help=_("log every request"))

    e = sub.add_parser("enroll", help=_("enroll an appliance public key"))
    _db(e)
    e.add_argument("--name", required=True)
    e.add_argument("--pubkey", type=Path, required=True, help=_("PEM public key file"))
    e.add_argument("--json", action="store_true")

    r = sub.add_parser("revoke", help=_("revoke an appliance key"))
    _db(r)
    r.add_argument("key_id")

    tk = sub.add_parser("token", help=_("access and enrollment tokens"))
    tsub = tk.add_subparsers(dest="token_command", required=True)
    tc = tsub.add_parser("create", help=_("create a token and print it alone on stdout"))
    _db(tc)
    tc.add_argument("--enroll", action="store_true",
                    help=_("a token that can only enroll appliances (rack machines)"))
    tc.add_argument("--name", default="")
    tr = tsub.add_parser("revoke", help=_("revoke a token"))
    _db(tr)
    tr.add_argument("token")

    x = sub.add_parser("export-tiles", help=_("write the checkpoint and tiles to a directory "
                                              "any web server can serve (c2sp.org/tlog-tiles)"))
    _db(x)
    x.add_argument("--out", type=Path, required=True, metavar="DIR")
    x.add_argument("--origin", default=None, help=_("the checkpoints' origin line"))
    x.add_argument("--entries", action="store_true",
                   help=_("also the entry bundles (the certificates themselves)"))

    v = sub.add_parser("verify-log", help=_("recompute every leaf, root and signature"))
    _db(v)
    v.add_argument("--since", type=Path, default=None, metavar="CHECKPOINT",
                   help=_("a tree head kept outside the ledger (the JSON of "
                          "/api/v1/log/root): the log must still contain it"))
    v.add_argument("--json", action="store_true")
    return ap


def _key_path(args: argparse.Namespace) -> Path:
    from ledger.logkey import default_path

    return args.log_key if args.log_key is not None else default_path(args.db)


def _names_key(engine: Any, key: Any) -> bool:
    """Whether the database names `key` as (one of) the log's keys."""
    from appliance.certificate import key_id
    from ledger.logkey import public_keys

    with engine.connect() as conn:
        return key_id(key) in {key_id(k) for k in public_keys(conn)}


def _engine(url: str | None):  # type: ignore[no-untyped-def]
    from ledger.db import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    return engine


def main(argv: list[str] | None = None) -> int:
    """Exit codes: the table in appliance/errors.py; one sentence on stderr, no traceback."""
    words = list(sys.argv[1:] if argv is None else argv)
    early = next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "--lang"), None)
    set_language(early or posix_language())  # argparse's own words speak it too
    route_argparse()
    args = parser().parse_args(words)
    set_language(args.lang or posix_language())
    try:
        return _run(args)
    except BrokenPipeError:
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(_("ardoise-ledger: {error}").format(error=where + tr(os_reason(exc))),
              file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(_("ardoise-ledger: {error}").format(error=exc), file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - database errors, and the last guard
        code, text = _database_problem(exc, getattr(args, "db", None))
        print(_("ardoise-ledger: {error}").format(error=text), file=sys.stderr)
        return code


def _database_problem(exc: Exception, url: str | None) -> tuple[int, str]:
    """A database that cannot be opened, in one sentence: a bad address or a file that
    cannot be opened is a usage error (2); a database server that does not answer is a
    server failure (1)."""
    import sqlalchemy.exc as sa

    where = url or "ardoise-ledger.db"
    if isinstance(exc, sa.ArgumentError | sa.NoSuchModuleError):
        return EXIT_USAGE, _("{db} is not a database address: give a file path or a "
                             "postgresql:// URL (--db)").format(db=where)
    if isinstance(exc, sa.DBAPIError):
        sqlite = "://" not in where or where.startswith("sqlite")
        if sqlite:
            return EXIT_USAGE, _("cannot open the database {db}: check that the file is an "
                                 "ardoise-ledger database and that its directory exists "
                                 "(--db)").format(db=where)
        return EXIT_FAILED, _("the database server at {db} does not answer").format(
            db=where.split("@")[-1])
    return EXIT_FAILED, _("unexpected error ({kind}: {error})").format(
        kind=type(exc).__name__, error=exc)


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(args)
    if args.command == "export-tiles":
        from ledger.store import Ledger
        from ledger.tlog import CheckpointLog, default_origin, export

        ledger = Ledger(_engine(args.db), key_file=_key_path(args))
        log = CheckpointLog(ledger, args.origin or os.environ.get("ARDOISE_LEDGER_ORIGIN")
                            or default_origin(ledger))
        n = export(log, args.out, entries=args.entries)
        print(_("{n} files written to {path} (vkey {vkey}).").format(n=n, path=args.out,
                                                                   vkey=log.vkey))
        return EXIT_OK
    if args.command == "verify-log":
        from ledger.db import make_engine
        from ledger.logkey import read_public
        from ledger.verify import checkpoint_from_json, verify_log

        key_path = _key_path(args)
        log_key = read_public(key_path) if key_path.exists() or args.log_key else None
        engine = make_engine(args.db)
        if log_key is not None and args.log_key is None and not _names_key(engine, log_key):
            print(_("{path} holds another key than the one this database names: give the "
                    "log's key with --log-key.").format(path=key_path), file=sys.stderr)
            return EXIT_FAILED
        since = None
        if args.since is not None:
            try:
                since = checkpoint_from_json(json.loads(args.since.read_text()))
            except json.JSONDecodeError:
                raise ValueError(_("{path}: not a JSON checkpoint").format(path=args.since)) \
                    from None
        report = verify_log(engine, log_key=log_key, since=since)
        if args.json:
            print(json.dumps({"ok": report.ok, "tree_size": report.tree_size,
                              "heads_checked": report.heads_checked,
                              "since": report.since_size,
                              "key_in_database": report.key_in_database,
                              "log_key_file": str(key_path) if log_key else None,
                              "problems": report.problems}))
        else:
            for problem in report.found:
                print(tr(problem))
            if log_key is None:
                print(_("No log key file ({path}): tree heads were checked against the keys "
                        "the database names, which whoever can write to it could replace.")
                      .format(path=key_path), file=sys.stderr)
            if report.key_in_database:
                print(_("The log's private key is stored in the database: start the ledger "
                        "with a key file (--log-key) to move it out."), file=sys.stderr)
            if report.since_size is not None:
                print(_("The log still contains the kept checkpoint of {n} entries.")
                      .format(n=report.since_size))
            if report.ok:
                print(_("Log verified: {n} entries, {h} signed tree heads.").format(
                    n=report.tree_size, h=report.heads_checked))
            else:
                print(_("The log does NOT verify: {n} problems.").format(n=len(report.problems)))
        return EXIT_OK if report.ok else EXIT_FAILED

    from ledger.store import Ledger

    ledger = Ledger(_engine(args.db), admin_only=True)
    if args.command == "enroll":
        try:
            kid, new = ledger.enroll(args.name, args.pubkey.read_bytes())
        except PermissionError:
            print(_("This key was revoked; it cannot be enrolled again."), file=sys.stderr)
            return EXIT_FAILED
        except OSError as exc:
            print(_("cannot read {path}: {error}").format(path=args.pubkey,
                                                          error=tr(os_reason(exc))),
                  file=sys.stderr)
            return EXIT_USAGE
        except Exception:  # noqa: BLE001 - whatever the PEM parser says
            print(_("{path} is not an Ed25519 public key in PEM format (a .pub.pem file)")
                  .format(path=args.pubkey), file=sys.stderr)
            return EXIT_USAGE
        if args.json:
            print(json.dumps({"key_id": kid, "name": args.name, "enrolled": new}))
        else:
            print(kid)
            if not new:
                print(_("This key was already enrolled."), file=sys.stderr)
        return EXIT_OK
    if args.command == "revoke":
        if not ledger.revoke(args.key_id):
            print(_("No active appliance key {key}.").format(key=args.key_id), file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    if args.command == "token":
        if args.token_command == "create":
            print(ledger.create_token("enroll" if args.enroll else "admin", args.name))
            return EXIT_OK
        if not ledger.revoke_token(args.token):
            print(_("No active token matches."), file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    return EXIT_USAGE


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ledger import app as app_module
    from ledger import logs

    if bool(args.tls_cert) != bool(args.tls_key):
        print(_("--tls-cert and --tls-key go together."), file=sys.stderr)
        return EXIT_USAGE
    for path in (args.tls_cert, args.tls_key):
        if path is not None and not path.is_file():
            print(_("{path}: no such file (--tls-cert, --tls-key).").format(path=path),
                  file=sys.stderr)
            return EXIT_USAGE
    if args.netboot is not None and not args.netboot.is_dir():
        print(_("{path} is not a directory.").format(path=args.netboot), file=sys.stderr)
        return EXIT_USAGE
    problem = _cannot_listen(args.host, args.port)
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_FAILED
    if args.witness:
        from ledger.witness import ENV_WITNESSES, parse_witnesses

        try:
            parse_witnesses(" ".join(args.witness))
        except ValueError as exc:
            print(_("ardoise-ledger: {error}").format(error=exc), file=sys.stderr)
            return EXIT_USAGE
        os.environ[ENV_WITNESSES] = " ".join(args.witness)  # the workers submit too
    logs.setup(args.log_level)
    from ledger.logkey import ENV_KEY

    key_file = _key_path(args).absolute()
    os.environ[ENV_KEY] = str(key_file)  # the worker processes find the same key file
    common = {"netboot": args.netboot, "lost_after": args.lost_after, "key_file": key_file}
    target: Any
    if args.workers > 1:
        from ledger.db import make_engine, normalise_url, upgrade
        from ledger.store import Ledger

        engine = make_engine(args.db)
        upgrade(engine)
        Ledger(engine, key_file)  # the log key and first tree head, once, before the workers
        engine.dispose()
        os.environ[app_module.ENV_DB] = normalise_url(args.db)
        os.environ[app_module.ENV_LOST] = str(args.lost_after)
        if args.netboot is not None:
            os.environ[app_module.ENV_NETBOOT] = str(args.netboot.absolute())
        target = "ledger.app:from_environment"
    else:
        target = app_module.asgi(app_module.build(args.db, **common))
    try:
        uvicorn.run(target, factory=args.workers > 1, workers=args.workers,
                    host=args.host, port=args.port, loop="uvloop", http="httptools",
                    ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
                    ssl_keyfile=str(args.tls_key) if args.tls_key else None,
                    log_config=logs.uvicorn_log_config(args.log_level),
                    access_log=args.access_log, server_header=False,
                    timeout_graceful_shutdown=10)
    except SystemExit as stop:  # uvicorn's own codes (3: startup failed) are not the table's
        return EXIT_OK if not stop.code else EXIT_FAILED
    return EXIT_OK


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (the address is in use, or not one of
    this machine's), checked before it starts; None when it can."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _name, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = tr(os_reason(exc)) if not isinstance(exc, socket.gaierror) else \
            _("unknown host name")
        return _("ardoise-ledger: cannot listen on {host}:{port}: {reason}").format(
            host=host, port=port, reason=reason)
    return None


if __name__ == "__main__":
    sys.exit(main())
