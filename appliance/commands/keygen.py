"""`ardoise keygen [--out DIR] [--force]`: the appliance's Ed25519 signing key pair.

Made on the data partition (default DATA/keys), never in the image: appliance.key (PKCS8
PEM, mode 0600) and appliance.pub.pem (to enrol on the ledger). An existing key is never
overwritten without --force (exit 3): certificates already issued name it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.certificate import key_id, load_public_pem
from appliance.certify import KeyExists, generate_key, keys_dir
from appliance.commands.checks import write_error
from appliance.errors import EXIT_OK, Refused
from appliance.i18n import _
from appliance.output import emit_json, say


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("keygen", parents=[common], help=_("make the appliance signing key"))
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=_("where to write the key pair (default DATA/keys)"))
    p.add_argument("--force", action="store_true", help=_("replace an existing key"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or keys_dir(args.data)
    try:
        key_path, pub_path = generate_key(out, force=args.force)
    except KeyExists as exc:
        raise Refused(_("a key exists already at {path} (use --force to replace it)").format(
            path=exc)) from exc
    except OSError as exc:
        raise write_error(out, exc) from None
    return report_key_pair(args, key_path, pub_path, _("Signing key written to {path}"),
                           _("Public key (enrol it on the ledger): {path}"))


def report_key_pair(args: argparse.Namespace, key_path: Path, pub_path: Path, key_line: str,
                    pub_line: str) -> int:
    """Tell where a new key pair was written and its key id (`key_line` and `pub_line` are
    translated templates with {path}), or the same as JSON with --json."""
    kid = key_id(load_public_pem(pub_path.read_bytes()))
    if args.json:
        emit_json({"key": str(key_path), "public_key": str(pub_path), "key_id": kid})
    else:
        say(key_line.format(path=key_path))
        say(pub_line.format(path=pub_path))
        say(_("Key id: {key_id}").format(key_id=kid))
    return EXIT_OK
