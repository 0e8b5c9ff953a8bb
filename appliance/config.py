"""`ardoise.yaml` → validated dataclasses.

Errors name the file, the line and the key: the YAML is composed into nodes first (their
marks carry line numbers), then every key is checked against the tables below. Unknown
keys, wrong types and bad values are errors; nothing is guessed.

Where the file comes from: ``--config FILE``, else ``ardoise.config=`` on the kernel command
line (a path, or an http(s) URL for rack machines without a stick), else DATA/ardoise.yaml;
no file at all means the defaults (interactive use, nothing unattended).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from appliance.i18n import _, tr

FILE_NAME = "ardoise.yaml"
LEVELS = ("clear", "purge")
PATTERNS = ("zero", "random")
VERIFY_MODES = ("none", "sample", "full")
AFTER = ("poweroff", "reboot", "stay")
LANGUAGES = ("fr", "en", "fr_CA", "fr_CH")
METHODS = (
    "overwrite", "ata-secure-erase", "ata-secure-erase-enhanced",
    "ata-sanitize-crypto", "ata-sanitize-block", "ata-sanitize-overwrite",
    "nvme-format-user", "nvme-format-crypto",
    "nvme-sanitize-crypto", "nvme-sanitize-block", "nvme-sanitize-overwrite",
    "scsi-sanitize-crypto", "scsi-sanitize-block", "scsi-sanitize-overwrite",
    "mmc-erase", "mmc-sanitize", "opal-psid-revert",
)


class ConfigError(Exception):
    """A config that must not be used. str() is one line: FILE:LINE: KEY: reason."""

    def __init__(self, source: str, line: int | None, key: str, reason: str):
        self.source = source
        self.line = line
        self.key = key
        self.reason = reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


@dataclass(frozen=True)
class EraseSettings:
    level: str = "clear"
    method: str = "auto"
    # A purge that cannot be reached falls back to clear only when this says so, and the
    # certificate records the level actually reached.
    fallback_to_clear: bool = False
    pattern: str = "zero"
    verify: str = "sample"
    remove_hpa: bool = False
    allow_external: bool = False
    # passes of a firmware overwrite (NVMe/ATA sanitize overwrite): 1 unless asked, as the
    # drives' own default is 16 passes (days on a large HDD)
    overwrite_passes: int = 1


@dataclass(frozen=True)
class ImageSettings:
    manifest: str | None = None  # path or http(s) URL
    trust: tuple[Path, ...] = ()
    required: bool = False  # a disk without a verified image is a failure


@dataclass(frozen=True)
class UnattendedSettings:
    enabled: bool = False
    countdown_seconds: int = 30
    after: str = "stay"


@dataclass(frozen=True)
class LedgerSettings:
    url: str | None = None
    ca_file: Path | None = None
    heartbeat_seconds: int = 30
    enroll_token: str | None = None  # rack machines enroll their boot-time key with it
    # sha256/BASE64 of the ledger's SubjectPublicKeyInfo, checked on every connection
    # (appliance.ledgertls); several for a key rollover
    pin: tuple[str, ...] = ()
    proxy: str | None = None  # http(s)://HOST:PORT of the site's proxy


@dataclass(frozen=True)
class WifiNetwork:
    """One network to join (appliance.wifi), in the order the config lists them. Its
    secrets (psk, password) stay on the stick: never in argv, logs or repr()."""

    ssid: str
    psk: str | None = field(default=None, repr=False)  # WPA2/WPA3-Personal
    hidden: bool = False  # the access point does not broadcast its SSID
    wpa3: bool = False  # WPA3-Personal only (SAE); WPA2 and WPA2/WPA3 mixed need no flag
    eap: str | None = None  # WPA2-Enterprise: peap | ttls
    identity: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_cert: Path | None = None  # the RADIUS server's CA (PEM), from the stick
    phase2: str = "mschapv2"  # inner authentication

    @property
    def enterprise(self) -> bool:
        return self.eap is not None


@dataclass(frozen=True)
class BatterySettings:
    min_percent: int = 30


@dataclass(frozen=True)
class Config:
    organisation: str = ""
    location: str = ""
    operator: str = ""
    batch: str = ""
    donor: str = ""
    destination: str = ""
    language: str | None = None
    data: Path | None = None
    erase: EraseSettings = field(default_factory=EraseSettings)
    image: ImageSettings = field(default_factory=ImageSettings)
    unattended: UnattendedSettings = field(default_factory=UnattendedSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    wifi: tuple[WifiNetwork, ...] = ()
    battery: BatterySettings = field(default_factory=BatterySettings)
    source: str = ""  # where it was read from ("" = defaults)


# --- validation ---------------------------------------------------------------------------

Check = Callable[["_Reader", yaml.Node, str], Any]


class _Reader:
    def __init__(self, source: str, base: Path | None):
        self.source = source
        self.base = base

    def fail(self, node: yaml.Node | None, key: str, reason: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(self.source, line, key, reason)

    def scalar(self, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, _("expected a single value, not a list or a mapping"))
        return yaml.SafeLoader("").construct_object(node)  # type: ignore[no-untyped-call]

    def mapping(self, node: yaml.Node, key: str, table: dict[str, Check]) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, _("expected a mapping of keys"))
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            name = str(knode.value)
            path = f"{key}.{name}" if key else name
            if name not in table:
                known = ", ".join(sorted(table))
                raise self.fail(knode, path, _("unknown key (known keys: {known})").format(known=known))
            if name in out:
                raise self.fail(knode, path, _("key given twice"))
            out[name] = table[name](self, vnode, path)
        return out


def _text(r: _Reader, node: yaml.Node, key: str) -> str:
    value = r.scalar(node, key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float | _dt.date):
        raise r.fail(node, key, _("expected text"))
    return str(value)


def _optional_text(r: _Reader, node: yaml.Node, key: str) -> str | None:
    return _text(r, node, key) or None


def _bool(r: _Reader, node: yaml.Node, key: str) -> bool:
    value = r.scalar(node, key)
    if not isinstance(value, bool):
        raise r.fail(node, key, _("expected true or false, got {value!r}").format(value=value))
    return value


def _int_between(low: int, high: int) -> Check:
    def check(r: _Reader, node: yaml.Node, key: str) -> int:
        value = r.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise r.fail(node, key, _("expected a whole number, got {value!r}").format(value=value))
        if not low <= value <= high:
            raise r.fail(node, key, _("must be between {low} and {high}, got {value}").format(
                low=low, high=high, value=value))
        return value
    return check


def _choice(choices: tuple[str, ...]) -> Check:
    def check(r: _Reader, node: yaml.Node, key: str) -> str:
        value = r.scalar(node, key)
        if not isinstance(value, str) or value not in choices:
            raise r.fail(node, key, _("must be one of {choices}, got {value!r}").format(
                choices=", ".join(choices), value=value))
        return value
    return check


def _method(r: _Reader, node: yaml.Node, key: str) -> str:
    return _choice(("auto", *METHODS))(r, node, key)  # type: ignore[no-any-return]


def _path(r: _Reader, node: yaml.Node, key: str) -> Path:
    text = _text(r, node, key)
    if not text:
        raise r.fail(node, key, _("expected a path"))
    path = Path(text)
    if not path.is_absolute() and r.base is not None:
        path = r.base / path
    return path


def _optional_path(r: _Reader, node: yaml.Node, key: str) -> Path | None:
    return _path(r, node, key) if _text(r, node, key) else None


def _source(r: _Reader, node: yaml.Node, key: str) -> str:
    """A manifest: http(s) URL as written, a path resolved against the config's folder."""
    text = _text(r, node, key)
    if text.startswith(("http://", "https://")):
        return text
    if "://" in text:
        raise r.fail(node, key, _("only http:// and https:// addresses or paths are supported"))
    return str(_path(r, node, key))


def _url(r: _Reader, node: yaml.Node, key: str) -> str | None:
    text = _text(r, node, key)
    if text and not text.startswith(("http://", "https://")):
        raise r.fail(node, key, _("expected an http:// or https:// address"))
    return text.rstrip("/") or None


def _pins(r: _Reader, node: yaml.Node, key: str) -> tuple[str, ...]:
    from appliance.ledgertls import valid_pin

    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    pins = tuple(_text(r, item, key) for item in items)
    for item, pin in zip(items, pins, strict=True):
        if not valid_pin(pin):
            raise r.fail(item, key, _("expected sha256/ followed by the base64 SHA-256 of the "
                                      "ledger's public key (SubjectPublicKeyInfo)"))
    return pins


def _proxy(r: _Reader, node: yaml.Node, key: str) -> str | None:
    from urllib.parse import urlsplit

    url = _url(r, node, key)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if not parts.hostname:
        raise r.fail(node, key, _("expected http://HOST:PORT (the site's proxy)"))
    return url


def _list_of(item: Check) -> Check:
    def check(r: _Reader, node: yaml.Node, key: str) -> tuple[Any, ...]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise r.fail(node, key, _("expected a list"))
        return tuple(item(r, child, f"{key}[{i}]") for i, child in enumerate(node.value))
    return check


def _section(cls: type, table: dict[str, Check]) -> Check:
    def check(r: _Reader, node: yaml.Node, key: str) -> Any:
        return cls(**r.mapping(node, key, table))
    return check


EAP_METHODS = ("peap", "ttls")
PHASE2 = ("mschapv2", "pap", "gtc", "mschap")

WIFI_KEYS: dict[str, Check] = {
    "ssid": _text, "psk": _optional_text, "hidden": _bool, "wpa3": _bool,
    "eap": _choice(EAP_METHODS), "identity": _optional_text, "password": _optional_text,
    "ca_cert": _optional_path, "phase2": _choice(PHASE2),
}


def _wifi(r: _Reader, node: yaml.Node, key: str) -> WifiNetwork:
    values = r.mapping(node, key, WIFI_KEYS)
    line = {str(k.value): k for k, _v in node.value} if isinstance(node, yaml.MappingNode) else {}
    if not values.get("ssid"):
        raise r.fail(node, f"{key}.ssid", _("every network needs an ssid"))
    if len(values["ssid"].encode("utf-8")) > 32:
        raise r.fail(line.get("ssid", node), f"{key}.ssid", _("an SSID has at most 32 bytes"))
    psk = values.get("psk")
    if psk is not None and not 8 <= len(psk) <= 63:
        raise r.fail(line.get("psk", node), f"{key}.psk",
                     _("a WPA passphrase has 8 to 63 characters"))
    if values.get("eap"):
        if psk is not None or values.get("wpa3"):
            raise r.fail(line.get("eap", node), f"{key}.eap",
                         _("an enterprise network (eap) takes identity and password, not psk "
                           "or wpa3"))
        for needed in ("identity", "password", "ca_cert"):
            if not values.get(needed):
                raise r.fail(node, f"{key}.{needed}",
                             _("an enterprise network (eap) needs identity, password and "
                               "ca_cert (the CA certificate of its server, on the stick)"))
        ca = values["ca_cert"]
        if not ca.is_file():
            raise r.fail(line["ca_cert"], f"{key}.ca_cert",
                         _("file not found: {path}").format(path=ca))
    else:
        for only in ("identity", "password", "ca_cert", "phase2"):
            if only in values:
                raise r.fail(line[only], f"{key}.{only}",
                             _("only meaningful with eap: peap or eap: ttls"))
        if values.get("wpa3") and psk is None:
            raise r.fail(line["wpa3"], f"{key}.wpa3", _("WPA3-Personal needs a psk"))
    return WifiNetwork(**values)


TOP: dict[str, Check] = {
    "organisation": _text,
    "location": _text,
    "operator": _text,
    "batch": _text,
    "donor": _text,
    "destination": _text,
    "language": _choice(LANGUAGES),
    "data": _path,
    "erase": _section(EraseSettings, {
        "level": _choice(LEVELS),
        "method": _method,
        "fallback_to_clear": _bool,
        "pattern": _choice(PATTERNS),
        "verify": _choice(VERIFY_MODES),
        "remove_hpa": _bool,
        "allow_external": _bool,
        "overwrite_passes": _int_between(1, 16),
    }),
    "image": _section(ImageSettings, {
        "manifest": _source,
        "trust": _list_of(_path),
        "required": _bool,
    }),
    "unattended": _section(UnattendedSettings, {
        "enabled": _bool,
        "countdown_seconds": _int_between(0, 3600),
        "after": _choice(AFTER),
    }),
    "ledger": _section(LedgerSettings, {
        "url": _url,
        "ca_file": _optional_path,
        "heartbeat_seconds": _int_between(5, 3600),
        "enroll_token": _optional_text,
        "pin": _pins,
        "proxy": _proxy,
    }),
    "wifi": _list_of(_wifi),
    "battery": _section(BatterySettings, {"min_percent": _int_between(0, 100)}),
}


def parse(text: str, source: str = FILE_NAME, base: Path | None = None) -> Config:
    """Validate YAML text; raises ConfigError naming source:line and the key."""
    reader = _Reader(source, base)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, line, "", _("not valid YAML: {problem}").format(
            problem=exc.problem or exc)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, None, "", _("not valid YAML: {problem}").format(problem=exc)) from exc
    if root is None:
        return Config(source=source)
    values = reader.mapping(root, "", TOP)
    erase: EraseSettings = values.get("erase", EraseSettings())
    if erase.fallback_to_clear and erase.level != "purge":
        node = _find(root, "erase.fallback_to_clear")
        raise reader.fail(node, "erase.fallback_to_clear",
                          _("only meaningful with level: purge"))
    if erase.method not in ("auto", "overwrite") and erase.pattern != "zero":
        node = _find(root, "erase.pattern") or _find(root, "erase.method")
        raise reader.fail(node, "erase.pattern",
                          _("a pattern applies to the overwrite method only"))
    ledger: LedgerSettings = values.get("ledger", LedgerSettings())
    if ledger.pin and not (ledger.url or "").startswith("https://"):
        raise reader.fail(_find(root, "ledger.pin"), "ledger.pin",
                          _("a pinned key needs an https:// ledger.url"))
    return Config(source=source, **values)


def _find(root: yaml.Node, dotted: str) -> yaml.Node | None:
    """The key node at a dotted path (for the line number of a cross-key error)."""
    node: yaml.Node | None = root
    found: yaml.Node | None = None
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            return None
        for knode, vnode in node.value:
            if knode.value == part:
                found, node = knode, vnode
                break
        else:
            return None
    return found


def load(path: Path) -> Config:
    """Read and validate one file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), None, "", _("file not found")) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, "", _("not a text file: give the YAML config "
                                                 "(ardoise.yaml)")) from exc
    except OSError as exc:
        from appliance.errors import os_reason

        raise ConfigError(str(path), None, "", _("cannot read: {error}").format(
            error=tr(os_reason(exc)))) from exc
    return parse(text, source=str(path), base=path.parent)


def fetch(url: str, timeout: float = 20.0) -> Config:
    """A config served over HTTP (netbooted rack machines without a stick): used only once
    appliance.siteconfig proved it comes from the site (site key signature or pinned CA)."""
    from appliance.siteconfig import SiteConfigError, load_site_config

    try:
        verified = load_site_config(url, timeout=timeout)
        return parse(verified.text, source=url)
    except SiteConfigError as exc:
        raise ConfigError(url, None, "", str(exc)) from exc


def locate(explicit: Path | None, data_dir: Path, cmdline: str | None) -> str | None:
    """Where the config comes from: explicit file, kernel parameter, DATA/ardoise.yaml."""
    if explicit is not None:
        return str(explicit)
    if cmdline:
        return cmdline
    candidate = data_dir / FILE_NAME
    return str(candidate) if candidate.exists() else None


def load_from(location: str | None) -> Config:
    if location is None:
        return Config()
    if location.startswith(("http://", "https://")):
        return fetch(location)
    return load(Path(location))
