"""`ardoise site keygen|sign|verify`: the site key that vouches for rack configs.

    ardoise site keygen --out DIR              # DIR/site.key (keep it off the rack) + site.pub.pem
    ardoise site sign rack.yaml --key site.key # → rack.yaml.sig (base64 Ed25519, exact bytes)
    ardoise site verify rack.yaml|URL [--pubkey site.pub.pem]...

The public key goes into the image (image-build/config/includes.chroot/etc/ardoise/
site-keys/), never on the kernel command line. `sign` refuses a config that does not
validate, so a signed config is always one a machine can use. `verify` checks what a
netbooted machine checks (default keys: the image's /etc/ardoise/site-keys/*.pem).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.certificate import CertificateError, key_id, load_private_pem, load_public_pem
from appliance.commands.checks import key_file_error, write_error
from appliance.commands.keygen import report_key_pair
from appliance.config import ConfigError, parse
from appliance.errors import EXIT_FAILED, EXIT_OK, Refused, UsageError, os_reason
from appliance.i18n import _, tr
from appliance.output import emit_json, say
from appliance.siteconfig import (
    SIG_SUFFIX,
    SITE_KEYS_DIR,
    SiteConfigError,
    fetch_verified,
    generate_site_key,
    load_site_keys,
    sign_bytes,
    verify_bytes,
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("site", parents=[common],
                       help=_("site key and signed configs for netbooted rack machines"))
    ssub = p.add_subparsers(dest="site_command", metavar="ACTION")
    ssub.required = True

    k = ssub.add_parser("keygen", parents=[common], help=_("make the site signing key pair"))
    k.add_argument("--out", type=Path, required=True, metavar="DIR")
    k.add_argument("--name", default="site", help=_("file name stem (default: site)"))
    k.set_defaults(func=keygen)

    s = ssub.add_parser("sign", parents=[common], help=_("sign a rack config (writes CONFIG.sig)"))
    s.add_argument("config", type=Path, metavar="CONFIG")
    s.add_argument("--key", type=Path, required=True, metavar="SITE.key")
    s.set_defaults(func=sign)

    v = ssub.add_parser("verify", parents=[common],
                        help=_("check a rack config's signature (file or URL) and content"))
    v.add_argument("config", metavar="CONFIG")
    v.add_argument("--pubkey", type=Path, action="append", default=[], metavar="PEM",
                   help=_("trusted site public key (repeatable; default: {dir})").format(
                       dir=SITE_KEYS_DIR))
    v.add_argument("--sig", type=Path, default=None, help=_("signature file (default CONFIG.sig)"))
    v.set_defaults(func=verify)


def keygen(args: argparse.Namespace) -> int:
    try:
        key_path, pub_path = generate_site_key(args.out, args.name)
    except FileExistsError as exc:
        if exc.errno is not None:  # the output directory is a file
            raise write_error(args.out, exc) from None
        raise Refused(_("{path} exists already: a site key is never overwritten").format(
            path=exc)) from exc
    except OSError as exc:
        raise write_error(args.out, exc) from None
    return report_key_pair(args, key_path, pub_path,
                           _("Site signing key: {path} (keep it off the rack machines)"),
                           _("Public key for the image's /etc/ardoise/site-keys/: {path}"))


def _check_content(data: bytes, source: str) -> None:
    try:
        parse(data.decode("utf-8"), source=source)
    except UnicodeDecodeError as exc:
        raise UsageError(_("{source}: not UTF-8 text").format(source=source)) from exc
    except ConfigError as exc:
        raise UsageError(_("bad config: {error}").format(error=exc)) from exc


def sign(args: argparse.Namespace) -> int:
    try:
        data = args.config.read_bytes()
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {error}").format(
            path=args.config, error=tr(os_reason(exc)))) from None
    try:
        key = load_private_pem(args.key.read_bytes())
    except (OSError, ValueError, CertificateError) as exc:
        raise key_file_error(args.key, exc, private=True) from None
    _check_content(data, str(args.config))
    out = args.config.with_name(args.config.name + SIG_SUFFIX)
    out.write_bytes(sign_bytes(data, key))
    kid = key_id(key.public_key())
    if args.json:
        emit_json({"config": str(args.config), "signature": str(out), "key_id": kid})
    else:
        say(_("Signed {config} → {sig} (site key {key_id})").format(
            config=args.config, sig=out, key_id=kid[:16]))
    return EXIT_OK


def verify(args: argparse.Namespace) -> int:
    keys = [k for path in args.pubkey for k in load_site_keys_file(path)]
    if not args.pubkey:
        keys = load_site_keys()
    source = str(args.config)
    try:
        if source.startswith(("http://", "https://")):
            verified = fetch_verified(source, keys=keys)
            data, kid = verified.data, verified.key_id
        else:
            path = Path(source)
            sig_path = args.sig or path.with_name(path.name + SIG_SUFFIX)
            try:
                data, signature = path.read_bytes(), sig_path.read_bytes()
            except OSError as exc:
                raise UsageError(_("cannot read {path}: {error}").format(
                    path=exc.filename or path, error=tr(os_reason(exc)))) from None
            kid = verify_bytes(data, signature, keys)
    except SiteConfigError as exc:
        if args.json:
            emit_json({"config": source, "valid": False, "reason": str(exc)})
        else:
            say(_("NOT VALID: {reason}").format(reason=exc))
        return EXIT_FAILED
    _check_content(data, source)
    if args.json:
        emit_json({"config": source, "valid": True, "key_id": kid})
    else:
        say(_("Valid: signed by the site key {key_id}").format(key_id=(kid or "")[:16]))
    return EXIT_OK


def load_site_keys_file(path: Path) -> list[Ed25519PublicKey]:
    try:
        return [load_public_pem(path.read_bytes())]
    except (OSError, ValueError, CertificateError) as exc:
        raise key_file_error(path, exc) from None
