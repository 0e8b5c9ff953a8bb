"""Before the first byte is erased: can the image be written, will the ledger take the
certificates?

Every front end asks the same questions before its confirmation (`ardoise run`, the TUI
dashboard) and shows the answers in plain words:

- the system image (when the config names one): the manifest can be read, it is signed by
  a publisher this appliance trusts, its data file is there, and it fits every disk to erase;
- the ledger (when the config names one): this appliance has a signing key, a network, the
  ledger answers, and it knows this appliance's key (GET /api/v1/appliances/me).

Each answer is a Check: ok, warning (the run may go on: say what will happen) or problem (the
run must not start: say what to do). A required image that cannot be written, an appliance
key the ledger does not know or revoked, are problems; being offline is only a warning (the
certificates wait on the stick). Nothing here writes anything.

    result = preflight.check(config, data_dir, selected_targets)
    result.blocked        # a problem: refuse the run, nothing touched
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from appliance.config import Config
from appliance.i18n import _, format_size, tr

OK, WARNING, PROBLEM = "ok", "warning", "problem"


@dataclass(frozen=True)
class Check:
    code: str  # stable: image-ok, image-untrusted, ledger-unknown-key... (JSON, scripts)
    state: str  # ok | warning | problem
    text: str  # what was found, one plain sentence (translated: people only)
    action: str = ""  # what to do about it (translated), "" when nothing

    @property
    def topic(self) -> str:
        return self.code.split("-", 1)[0]  # image | ledger

    def to_json(self) -> dict[str, str]:
        """Never translated: the words are for people, the code for machines."""
        return {"topic": self.topic, "code": self.code, "state": self.state}


@dataclass
class Preflight:
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.state == PROBLEM]

    @property
    def blocked(self) -> bool:
        """A problem: the run must not start."""
        return bool(self.problems)

    def to_json(self) -> dict[str, Any]:
        return {"blocked": self.blocked, "checks": [c.to_json() for c in self.checks]}


def check(config: Config, data_dir: Path, targets: Sequence[Any], *, ledger: bool = True,
          link_up: Callable[[], bool] | None = None) -> Preflight:
    """Every check, for the disks about to be erased (`targets`: appliance.jobs.Target).
    `ledger=False` leaves the ledger out (rack mode enrolls at the ledger by itself);
    `link_up`: whether a network link is up (default: any interface's operstate)."""
    checks = image_checks(config, data_dir, targets)
    if ledger:
        checks += ledger_checks(config, data_dir, link_up=link_up)
    return Preflight(checks)


def print_checks(result: Preflight, out: Callable[[str], None]) -> None:
    """People lines, one per check, what to do under each one that needs it."""
    words = {OK: _("ok"), WARNING: _("WARNING"), PROBLEM: _("PROBLEM")}
    for c in result.checks:
        out(f"{words[c.state]:8} {c.text}")
        if c.action:
            out("         " + _("What to do: {action}").format(action=c.action))


# --- the image ------------------------------------------------------------------------------

def trust_paths(config: Config, data_dir: Path) -> list[Path]:
    """The publisher keys an image must be signed by (as appliance.jobs.Run uses them)."""
    from appliance.imaging.manifest import default_trust

    return list(config.image.trust) if config.image.trust else default_trust(data_dir)


def image_checks(config: Config, data_dir: Path, targets: Sequence[Any]) -> list[Check]:
    from appliance.imaging.manifest import ManifestError, load_trusted_keys, parse_bytes, verify
    from appliance.imaging.sources import SourceError, open_source

    image = config.image
    severity = PROBLEM if image.required else WARNING
    if not image.manifest:
        if not image.required:
            return []
        return [Check("image-not-configured", PROBLEM, _("A system image is required (image.required) but "
                                          "the config names none."),
                      _("Set image.manifest in {config}, or set image.required: false.").format(
                          config=config.source or "ardoise.yaml"))]
    later = "" if image.required else " " + _(
        "The disks would be erased, then reported FAIL when the image cannot be written.")
    trusted_dir = data_dir / "keys" / "trusted"
    try:
        # a look, not a download: fail fast when the image server does not answer
        source = open_source(image.manifest, connect_timeout=5.0, read_timeout=20.0,
                             max_attempts=2)
        try:
            raw = source.manifest_bytes()
        finally:
            source.close()
    except SourceError as exc:
        return [Check("image-unreadable", severity, _("The system image cannot be read: {error}.").format(
            error=tr(exc.message)) + later, _(
            "Copy the image (NAME.manifest.json and NAME.data) to the stick, or correct "
            "image.manifest in {config}.").format(config=config.source or "ardoise.yaml"))]
    try:
        m = parse_bytes(raw)
    except ManifestError as exc:
        return [Check("image-damaged", severity, _("The image manifest is damaged: {error}.").format(
            error=tr(exc.message)) + later, _("Copy the image again from its publisher."))]
    try:
        kid = verify(m, load_trusted_keys(trust_paths(config, data_dir)))
    except ManifestError as exc:
        return [Check("image-untrusted", severity, _(
            "The image {name} is not signed by a publisher this appliance trusts: {error}."
        ).format(name=m.name, error=tr(exc.message)) + later, _(
            "Put the publisher's public key (PEM) in {folder}, or list it under image.trust.")
            .format(folder=trusted_dir))]
    missing = _data_problem(image.manifest, m.data_file, m.data_bytes)
    if missing:
        return [Check("image-data-missing", severity, _("The image data file is missing or incomplete: "
                                           "{error}.").format(error=missing) + later,
                      _("Copy {file} beside the manifest again.").format(file=m.data_file))]
    checks = [Check("image-ok", OK, _("System image {name} {version}: complete, signed by a "
                                   "trusted publisher (key {key}).").format(
        name=m.name, version=m.version, key=kid[:16]))]
    small = [t.disk for t in targets if t.disk.size_bytes < m.min_disk_bytes]
    for disk in small:
        checks.append(Check("image-too-small", severity, _(
            "{path} holds {size}, the image {name} needs {need}.").format(
            path=disk.path, size=format_size(disk.size_bytes), name=m.name,
            need=format_size(m.min_disk_bytes)) + later, _(
            "Use an image made for smaller disks, or leave this disk out.")))
    if targets and not small:
        checks.append(Check("image-fits", OK, _("The image fits every disk to erase ({need} "
                                           "needed).").format(need=format_size(m.min_disk_bytes))))
    return checks


def _data_problem(manifest: str, data_file: str, data_bytes: int) -> str | None:
    """Why the data file cannot serve the image, or None (a local stat, or an HTTP HEAD)."""
    if manifest.startswith(("http://", "https://")):
        import requests

        url = urljoin(manifest, data_file)
        try:
            response = requests.head(url, timeout=(3.0, 10.0), allow_redirects=True)
        except requests.RequestException as exc:
            return f"{url}: {type(exc).__name__}"
        if response.status_code != 200:
            return f"{url}: HTTP {response.status_code}"
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) < data_bytes:
            return _("{file} holds {size} bytes of {need}").format(
                file=url, size=int(length), need=data_bytes)
        return None
    path = Path(manifest.removeprefix("file://")).parent / data_file
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    if size < data_bytes:
        return _("{file} holds {size} bytes of {need}").format(file=path, size=size,
                                                               need=data_bytes)
    return None


# --- the ledger -----------------------------------------------------------------------------

def enroll_command(pub: Path, kid: str) -> str:
    """The exact command that enrolls this appliance on the ledger server."""
    return f"ardoise-ledger enroll --name ardoise-{kid[:8]} --pubkey {pub}"


def ledger_checks(config: Config, data_dir: Path, *,
                  link_up: Callable[[], bool] | None = None) -> list[Check]:
    from appliance import rack
    from appliance.certificate import key_id
    from appliance.certify import KEY_NAME, PUB_NAME, keys_dir, load_key
    from appliance.uplink import network_up, standing

    url = config.ledger.url
    if rack.wanted(config):
        return []  # rack mode enrolls with the site's token before anything else
    if not url:
        return [Check("ledger-not-configured", WARNING, _("No ledger is configured: the certificates stay on "
                                           "the stick."),
                      _("Set ledger.url in {config} to send them.").format(
                          config=config.source or "ardoise.yaml"))]
    keys = keys_dir(data_dir)
    if not (keys / KEY_NAME).exists():
        return [Check("ledger-no-key", PROBLEM, _("This appliance has no signing key yet: the ledger "
                                           "cannot know it and would refuse its certificates."),
                      _("Run: ardoise keygen --data {data}, then on the ledger server: {enroll}")
                      .format(data=data_dir, enroll="ardoise-ledger enroll --name NAME "
                              f"--pubkey {keys / PUB_NAME}"))]
    try:
        key = load_key(data_dir, create=False)
    except Exception as exc:  # unreadable, not Ed25519: the certificates could not be signed
        return [Check("ledger-bad-key", PROBLEM, _("The appliance key {path} cannot be used: {error}.")
                      .format(path=keys / KEY_NAME, error=exc),
                      _("Make a new one: ardoise keygen --force --data {data}, and enroll it.")
                      .format(data=data_dir))]
    kid = key_id(key.public_key())
    offline = _("the certificates will wait on the stick until a network is available")
    if not (link_up or network_up)():
        return [Check("ledger-offline", WARNING, _("No network: {consequence}.").format(
            consequence=offline))]
    from appliance.ledgertls import ledger_session

    ca = config.ledger.ca_file
    answer = standing(url, key, ca=ca, session=ledger_session(config.ledger))
    enroll = enroll_command(keys / PUB_NAME, kid)
    if answer.state == "enrolled":
        return [Check("ledger-enrolled", OK, _("The ledger {url} answers and knows this appliance "
                                      "({name}).").format(url=url, name=answer.name))]
    if answer.state == "unknown":
        return [Check("ledger-unknown-key", PROBLEM, _("The ledger {url} does not know this appliance's key "
                                           "{key}: it would refuse every certificate.").format(
                          url=url, key=kid[:16]),
                      _("On the ledger server, run: {command}").format(command=enroll))]
    if answer.state == "revoked":
        return [Check("ledger-revoked", PROBLEM, _("The ledger revoked this appliance's key {key} "
                                           "({name}): it refuses its certificates.").format(
                          key=kid[:16], name=answer.name),
                      _("Make a new key (ardoise keygen --force --data {data}) and enroll it: "
                        "ardoise-ledger enroll --name NAME --pubkey {pub}").format(
                          data=data_dir, pub=keys / PUB_NAME))]
    if answer.state == "refused":
        return [Check("ledger-refused", PROBLEM, _("The ledger {url} refused this appliance's signed "
                                           "request: {reason}.").format(
                          url=url, reason=answer.reason),
                      _("Check this computer's clock (date -u) and the ledger address in "
                        "{config}.").format(config=config.source or "ardoise.yaml"))]
    if answer.state == "untrusted-tls":
        return [Check("ledger-untrusted-tls", PROBLEM, _(
            "The ledger {url} answers with a TLS certificate this appliance does not trust: "
            "no certificate could be sent.").format(url=url), _(
            "Copy the ledger's CA certificate (PEM) to {file} and set ledger.ca_file: "
            "keys/ledger-ca.pem in {config}.").format(
            file=keys / "ledger-ca.pem", config=config.source or "ardoise.yaml"))]
    if answer.state == "pin-mismatch":
        return [Check("ledger-pin-mismatch", PROBLEM, _(
            "The server at {url} does not hold the ledger's pinned key (ledger.pin): "
            "{reason}.").format(url=url, reason=tr(answer.reason)), _(
            "Use another network (this one may be intercepting), or, if the ledger's key "
            "really changed, put its new pin in ledger.pin in {config}.").format(
            config=config.source or "ardoise.yaml"))]
    if answer.state == "captive-portal":
        return [Check("ledger-captive-portal", WARNING, _(
            "The ledger {url} cannot be reached from this network: {reason}.").format(
            url=url, reason=tr(answer.reason)))]
    if answer.state == "unsupported":
        return [Check("ledger-unsupported", WARNING, _("The ledger {url} cannot say whether it knows this "
                                           "appliance (HTTP 404): an older ledger, or another "
                                           "server at this address.").format(url=url),
                      _("Check ledger.url in {config}; make sure this key is enrolled: {command}")
                      .format(config=config.source or "ardoise.yaml", command=enroll))]
    return [Check("ledger-unreachable", WARNING, _("The ledger {url} does not answer ({reason}): "
                                       "{consequence}.").format(
        url=url, reason=answer.reason, consequence=offline))]
