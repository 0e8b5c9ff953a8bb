"""The site config of netbooted rack machines: fetched from the network, trusted only if
signed by a site key the image carries, or served over TLS by a CA pinned on the kernel
command line.

Signature: `rack.yaml.sig` beside `rack.yaml` holds the base64 Ed25519 signature (one line)
by the site key over the exact bytes of the YAML file. The public site keys come from a
trusted place only: the image's /etc/ardoise/site-keys/*.pem. A key id or fingerprint on
the command line is not a key: whoever controls the network controls what a machine would
fetch with it.

TLS alternative: `ardoise.ca=sha256:HEX` pins the SHA-256 fingerprint (of the DER bytes) of
the site CA certificate. The CA certificate itself is fetched from `ardoise.ca_url=`
(default: `ca.pem` beside the config); it is used only if its fingerprint matches the pin,
then the config is fetched over https:// verified against that CA alone.

A config that fails these checks is never parsed: `fetch_verified` raises SiteConfigError
with the reason, and `load_site_config` also reports the refusal to the ledger when one is
reachable (best effort).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.certificate import CertificateError, key_id, load_public_pem
from appliance.i18n import _, ngettext, tr

log = logging.getLogger(__name__)

SITE_KEYS_DIR = Path("/etc/ardoise/site-keys")
SIG_SUFFIX = ".sig"
MAX_CONFIG_BYTES = 256 * 1024
MAX_CA_BYTES = 64 * 1024
NETWORK_PATIENCE = 180.0  # seconds a netbooted machine waits for the config server
REPORTS = "/api/v1/boot-reports"


class SiteConfigError(Exception):
    """The config must not be used; str() is the reason, for people (one line).
    `reported`: whether the ledger's log took the refusal (None: not tried)."""

    reported: bool | None = None


class Unreachable(SiteConfigError):
    """The server could not be reached or failed (5xx): worth trying again a little later."""


@dataclass(frozen=True)
class Verified:
    url: str
    data: bytes  # the exact bytes that were checked
    trust: str  # "signature" | "tls-pin"
    key_id: str | None = None  # the site key that signed it (signature trust)

    @property
    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SiteConfigError(_("the config is not UTF-8 text")) from exc


# --- signatures ----------------------------------------------------------------------------

def sign_bytes(data: bytes, key: Ed25519PrivateKey) -> bytes:
    """The .sig file content: base64 of the Ed25519 signature over `data`, one line."""
    return base64.b64encode(key.sign(data)) + b"\n"


def verify_bytes(data: bytes, signature_file: bytes, keys: list[Ed25519PublicKey]) -> str:
    """The key id of the trusted site key that signed `data`, or SiteConfigError."""
    if not keys:
        raise SiteConfigError(_("no trusted site key: nothing can vouch for this config"))
    try:
        raw = base64.b64decode(signature_file.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SiteConfigError(_("the signature file is not base64")) from exc
    if len(raw) != 64:
        raise SiteConfigError(_("the signature file is damaged ({n} bytes instead of 64)").format(
            n=len(raw)))
    for key in keys:
        try:
            key.verify(raw, data)
        except InvalidSignature:
            continue
        return key_id(key)
    raise SiteConfigError(ngettext(
        "bad signature: the config was changed or signed by a key this machine does not "
        "trust ({n} trusted site key)",
        "bad signature: the config was changed or signed by a key this machine does not "
        "trust ({n} trusted site keys)", len(keys)).format(n=len(keys)))


def load_site_keys(directory: Path | None = None) -> list[Ed25519PublicKey]:
    """The trusted site public keys (PEM files) of the image, or of ARDOISE_SITE_KEYS."""
    if directory is None:
        env = os.environ.get("ARDOISE_SITE_KEYS")
        directory = Path(env) if env else SITE_KEYS_DIR
    keys = []
    for path in sorted(directory.glob("*.pem")) if directory.is_dir() else []:
        try:
            keys.append(load_public_pem(path.read_bytes()))
        except (OSError, ValueError, CertificateError) as exc:
            log.warning("site key %s ignored: %s", path, exc)
    return keys


def generate_site_key(out_dir: Path, name: str = "site") -> tuple[Path, Path]:
    """NAME.key (PKCS8 PEM, 0600) and NAME.pub.pem; never overwrites."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub.pem"
    for path in (key_path, pub_path):
        if path.exists():
            raise FileExistsError(str(path))
    key = Ed25519PrivateKey.generate()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    pub_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_path, pub_path


# --- fetching ------------------------------------------------------------------------------

def _get(url: str, limit: int, timeout: float, verify: str | bool = True) -> bytes:
    import requests

    try:
        with warnings.catch_warnings():
            # verify=False only fetches the CA certificate that the pinned fingerprint checks
            warnings.simplefilter("ignore")
            response = requests.get(url, timeout=timeout, stream=True, verify=verify)
        with response:
            if response.status_code != 200:
                error = Unreachable if response.status_code >= 500 else SiteConfigError
                raise error(_("cannot fetch {url}: HTTP {code}").format(
                    url=url, code=response.status_code))
            data = b""
            for chunk in response.iter_content(16384):
                data += chunk
                if len(data) > limit:
                    raise SiteConfigError(_("{url} is larger than {n} bytes").format(
                        url=url, n=limit))
            return data
    except requests.exceptions.SSLError as exc:
        raise SiteConfigError(_("cannot fetch {url}: {error}").format(
            url=url, error=type(exc).__name__)) from exc
    except requests.RequestException as exc:
        from appliance.errors import network_reason

        raise Unreachable(_("cannot fetch {url}: {error}").format(
            url=url, error=tr(network_reason(exc)))) from exc


def ca_fingerprint(pem_or_der: bytes) -> str:
    """sha256:HEX of a certificate's DER bytes."""
    if b"-----BEGIN" in pem_or_der:
        cert = x509.load_pem_x509_certificate(pem_or_der)
    else:
        cert = x509.load_der_x509_certificate(pem_or_der)
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _normalise_pin(pin: str) -> str:
    value = pin.strip().lower().replace(":", "")
    value = value[6:] if value.startswith("sha256") else value
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise SiteConfigError(_("ardoise.ca must be sha256:<64 hex digits>"))
    return "sha256:" + value


def fetch_pinned_ca(config_url: str, ca_pin: str, ca_url: str | None = None,
                    timeout: float = 20.0) -> bytes:
    """The site CA certificate (PEM), from `ca_url` (default ca.pem beside the config),
    accepted only if its SHA-256 fingerprint is the pinned one."""
    pin = _normalise_pin(ca_pin)
    ca_pem = _get(ca_url or urljoin(config_url, "ca.pem"), MAX_CA_BYTES, timeout, verify=False)
    try:
        found = ca_fingerprint(ca_pem)
    except ValueError as exc:
        raise SiteConfigError(_("the site CA certificate cannot be read")) from exc
    if found != pin:
        raise SiteConfigError(_("the site CA certificate does not match the pinned "
                                "fingerprint (ardoise.ca)"))
    return ca_pem


def fetch_verified(url: str, *, keys: list[Ed25519PublicKey] | None = None,
                   ca_pin: str | None = None, ca_url: str | None = None,
                   timeout: float = 20.0) -> Verified:
    """Fetch the config at `url` and prove it comes from the site, or SiteConfigError."""
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise SiteConfigError(_("the config address must be http:// or https://"))
    if ca_pin:
        if scheme != "https":
            raise SiteConfigError(_("a pinned CA (ardoise.ca) needs an https:// config address"))
        ca_pem = fetch_pinned_ca(url, ca_pin, ca_url, timeout)
        with tempfile.NamedTemporaryFile("wb", suffix=".pem") as ca_file:
            ca_file.write(ca_pem)
            ca_file.flush()
            data = _get(url, MAX_CONFIG_BYTES, timeout, verify=ca_file.name)
        return Verified(url, data, "tls-pin")
    keys = load_site_keys() if keys is None else keys
    if not keys:
        raise SiteConfigError(_("this image has no site key ({dir}) and no CA is pinned "
                                "(ardoise.ca): a config from the network cannot be trusted")
                              .format(dir=SITE_KEYS_DIR))
    data = _get(url, MAX_CONFIG_BYTES, timeout)
    signature = _get(url + SIG_SUFFIX, 1024, timeout)
    kid = verify_bytes(data, signature, keys)
    return Verified(url, data, "signature", kid)


# --- the kernel command line ---------------------------------------------------------------

def cmdline_value(key: str) -> str | None:
    from appliance.cli import kernel_cmdline_value

    return kernel_cmdline_value(key)


def load_site_config(url: str, timeout: float = 20.0,
                     patience: float = NETWORK_PATIENCE) -> Verified:
    """fetch_verified with the kernel's ardoise.ca / ardoise.ca_url, retried while the
    network comes up; a refusal is also reported to the ledger (best effort) before it is
    raised."""
    deadline = time.monotonic() + patience
    wait = 2.0
    while True:
        try:
            return fetch_verified(url, ca_pin=cmdline_value("ardoise.ca"),
                                  ca_url=cmdline_value("ardoise.ca_url"), timeout=timeout)
        except Unreachable as exc:
            if time.monotonic() + wait > deadline:
                exc.reported = report_refusal(url, "bad_config", str(exc))
                raise
            print("ardoise: " + _("{error}: trying again in {n} s").format(error=exc, n=int(wait)),
                  file=sys.stderr, flush=True)
            time.sleep(wait)
            wait = min(wait * 2, 20.0)
        except SiteConfigError as exc:
            exc.reported = report_refusal(url, "bad_config", str(exc))
            raise


def refusal_reported(error: BaseException) -> bool | None:
    """Whether the ledger took the report of this refused config (the SiteConfigError
    behind a ConfigError), None if no report was tried."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, SiteConfigError):
            return seen.reported
        seen = seen.__cause__
    return None


def report_target(config_url: str) -> str | None:
    """Where to report a refusal: ardoise.ledger= on the command line, else the origin that
    served the config (often the ledger serving --netboot)."""
    explicit = cmdline_value("ardoise.ledger")
    if explicit:
        return explicit.rstrip("/")
    parts = urlsplit(config_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def report_refusal(config_url: str, code: str, reason: str, ledger: str | None = None,
                   host: dict[str, str] | None = None) -> bool:
    """Tell the ledger (its log) that this machine refused to work; True if it took it."""
    import requests

    target = ledger or report_target(config_url)
    if not target:
        return False
    body = {"code": code, "reason": reason[:500], "config": config_url[:500],
            "host": host if host is not None else machine_facts()}
    try:
        response = requests.post(target + REPORTS, json=body, timeout=(3.0, 5.0))
    except requests.RequestException as exc:
        log.info("refusal not reported to %s: %s", target, exc)
        return False
    return response.status_code < 300


def machine_facts() -> dict[str, str]:
    """DMI serial, product, maker and the MAC of the first wired interface (for reports)."""
    from appliance.inventory import from_sysfs

    host = from_sysfs()
    return {"serial": host.serial or "", "product": host.product or "",
            "maker": host.manufacturer or "", "mac": primary_mac()}


def primary_mac(sys_net: Path = Path("/sys/class/net")) -> str:
    """The MAC address of the first interface with a device and its link up (else any)."""
    best = ""
    try:
        names = sorted(p for p in sys_net.iterdir() if (p / "device").exists())
    except OSError:
        return ""
    for iface in names:
        try:
            mac = (iface / "address").read_text().strip()
            state = (iface / "operstate").read_text().strip()
        except OSError:
            continue
        if state == "up":
            return mac
        best = best or mac
    return best
