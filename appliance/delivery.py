"""How a session ends: where is each certificate it issued?

Every `ardoise run`, `ardoise wipe` and TUI session closes with the same summary, built
from the spool (sent/, pending/ and the ledger's last answer kept in notes/):

- sent: the ledger has it (201 new, or 200 identical duplicate);
- waiting: still on the stick, and why (no ledger configured, no network, the ledger did
  not answer): nothing to do, it leaves as soon as the ledger answers;
- rejected: the ledger refused it (409 conflict, or another 4xx): a problem to fix, with
  the ledger's reason and what to do. A rejected certificate makes the session's exit
  status 1; it is never called "not sent yet".

    summary = delivery.summarize(data_dir, ids, config.ledger.url, uplink.state().last_error)
    delivery.print_summary(summary, warn)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.i18n import _, ngettext

SENT, WAITING, REJECTED = "sent", "waiting", "rejected"


# why a certificate waits or was rejected: stable codes (JSON), people words at display time
NO_LEDGER, NO_NETWORK, UNREACHABLE, LEDGER_BUSY = "no-ledger", "no-network", "unreachable", \
    "ledger-busy"
CONFLICT, KEY_NOT_ENROLLED, REFUSED = "conflict", "key-not-enrolled", "refused"
KEY_ERRORS = ("unknown_key", "key_not_allowed")  # the ledger's codes for a key it will not take


@dataclass(frozen=True)
class Delivery:
    certificate_id: str
    state: str  # sent | waiting | rejected
    why: str = ""  # a code above ("" when sent)
    http: int | None = None  # the ledger's status (rejected)
    answer: str = ""  # the ledger's own words (rejected; English, as the ledger gave them)
    data_dir: str = ""  # the data partition the commands of `action` name

    @property
    def reason(self) -> str:
        """Why, in plain words (translated); the ledger's answer follows a rejection."""
        words = {
            NO_LEDGER: _("no ledger is configured"),
            NO_NETWORK: _("no network"),
            UNREACHABLE: _("the ledger is unreachable"),
            LEDGER_BUSY: _("the ledger is not taking certificates now"),
            CONFLICT: _("another certificate with this id is in its log"),
            KEY_NOT_ENROLLED: _("this appliance's key is not enrolled there"),
            REFUSED: _("it does not accept this certificate"),
        }.get(self.why, self.why)
        if self.state == REJECTED:
            return _("{reason} (HTTP {status}: {answer})").format(
                reason=words, status=self.http, answer=self.answer)
        return words

    @property
    def action(self) -> str:
        """What to do (rejected only)."""
        if self.state != REJECTED:
            return ""
        data = Path(self.data_dir)
        if self.why == CONFLICT:
            return _("Keep the stick and tell your supervisor (ardoise spool list --data "
                     "{data}).").format(data=data)
        if self.why == KEY_NOT_ENROLLED:
            return _("Enroll this appliance's key on the ledger server ({command}), then send "
                     "it again: ardoise spool flush --data {data}").format(
                command=enroll_hint(data), data=data)
        return _("The certificate stays on the stick: check it (ardoise cert verify {file}) "
                 "and tell your supervisor.").format(
            file=data / "spool" / "pending" / f"{self.certificate_id}.json")

    def to_json(self) -> dict[str, Any]:
        return {"certificate_id": self.certificate_id, "state": self.state, "why": self.why,
                "http": self.http, "answer": self.answer}


@dataclass
class DeliverySummary:
    ledger: str | None
    items: list[Delivery] = field(default_factory=list)

    def _in(self, state: str) -> list[Delivery]:
        return [d for d in self.items if d.state == state]

    @property
    def sent(self) -> list[Delivery]:
        return self._in(SENT)

    @property
    def waiting(self) -> list[Delivery]:
        return self._in(WAITING)

    @property
    def rejected(self) -> list[Delivery]:
        return self._in(REJECTED)

    @property
    def ok(self) -> bool:
        """No certificate was refused by the ledger."""
        return not self.rejected

    def of(self, certificate_id: str | None) -> Delivery | None:
        return next((d for d in self.items if d.certificate_id == certificate_id), None)

    def to_json(self) -> dict[str, Any]:
        return {"ledger": self.ledger, "sent": len(self.sent), "waiting": len(self.waiting),
                "rejected": len(self.rejected), "certificates": [d.to_json() for d in self.items]}

    def lines(self) -> list[tuple[str, str]]:
        """(state, people text) per line: the totals, then one line per certificate that did
        not arrive; a rejected one is followed by what to do."""
        out = [(SENT if self.ok and not self.waiting else WAITING if self.ok else REJECTED,
                _("Certificates: {sent} sent, {waiting} waiting, {rejected} rejected.").format(
                    sent=len(self.sent), waiting=len(self.waiting),
                    rejected=len(self.rejected)))]
        for d in self.rejected:
            out.append((REJECTED, _("REJECTED by the ledger: {id}: {reason}").format(
                id=d.certificate_id, reason=d.reason)))
            out.append((REJECTED, "  " + _("What to do: {action}").format(action=d.action)))
        for why in sorted({d.why for d in self.waiting}):
            group = [d for d in self.waiting if d.why == why]
            n, reason = len(group), group[0].reason
            out.append((WAITING, ngettext(
                "{n} waiting on the stick: {reason}. It is sent as soon as the ledger answers.",
                "{n} waiting on the stick: {reason}. They are sent as soon as the ledger "
                "answers.", n).format(n=n, reason=reason)))
        return out


def summarize(data_dir: Path, certificate_ids: Sequence[str | None], ledger: str | None,
              last_error: str | None = None, *,
              link_up: Callable[[], bool] | None = None) -> DeliverySummary:
    """Where each certificate is now. `last_error`: the uplink's last retryable failure."""
    from appliance.spool import Spool
    from appliance.uplink import network_up

    summary = DeliverySummary(ledger)
    ids = [i for i in certificate_ids if i]
    if not ids:
        return summary
    # a front end walking its screens without a data partition creates none
    spool = Spool(data_dir) if (Path(data_dir) / "spool").is_dir() else None
    sent = set(spool.sent()) if spool is not None else set()
    why: str | None = None
    for cert_id in ids:
        if cert_id in sent:
            summary.items.append(Delivery(cert_id, SENT))
            continue
        note = spool.get_note(cert_id) if spool is not None else None
        if note and note.get("status") in ("conflict", "rejected"):
            summary.items.append(rejected(cert_id, note, data_dir))
            continue
        if why is None:
            why = waiting_reason(ledger, last_error, link_up or network_up)
        summary.items.append(Delivery(cert_id, WAITING, why))
    return summary


def waiting_reason(ledger: str | None, last_error: str | None,
                   link_up: Callable[[], bool]) -> str:
    if not ledger:
        return NO_LEDGER
    if not link_up():
        return NO_NETWORK
    if last_error and last_error.startswith("HTTP "):
        return LEDGER_BUSY
    return UNREACHABLE


def rejected(cert_id: str, note: dict[str, Any], data_dir: Path) -> Delivery:
    """A certificate the ledger refused (the spool's note of its answer)."""
    http = note.get("http")
    why = REFUSED
    if note.get("status") == "conflict":
        why = CONFLICT
    elif note.get("error") in KEY_ERRORS:
        why = KEY_NOT_ENROLLED
    return Delivery(cert_id, REJECTED, why, http if isinstance(http, int) else None,
                    str(note.get("reason") or ""), str(data_dir))


def enroll_hint(data_dir: Path) -> str:
    from appliance.certificate import key_id, load_public_pem
    from appliance.certify import PUB_NAME, keys_dir
    from appliance.preflight import enroll_command

    pub = keys_dir(data_dir) / PUB_NAME
    try:
        kid = key_id(load_public_pem(pub.read_bytes()))
    except Exception:  # no public key file: the name is the technician's choice
        return f"ardoise-ledger enroll --name NAME --pubkey {pub}"
    return enroll_command(pub, kid)


def print_summary(summary: DeliverySummary, out: Callable[[str], None]) -> None:
    for _state, text in summary.lines():
        out(text)


# --- a session without a background uplink (`ardoise wipe`) ----------------------------------

def ledger_for(data_dir: Path) -> tuple[str | None, Path | None, Any]:
    """The ledger a session without a config sends to: $ARDOISE_LEDGER, else the config on the
    data partition (DATA/ardoise.yaml), else the last ledger the uplink used here.
    (URL, CA, the config's LedgerSettings when the URL is the config's: pin, proxy)"""
    from appliance.config import ConfigError, load_from, locate
    from appliance.spool import Spool
    from appliance.uplink import saved_state

    url = os.environ.get("ARDOISE_LEDGER") or None
    ca: Path | None = None
    settings: Any = None
    if url is None:
        try:
            config = load_from(locate(None, data_dir, None))
        except ConfigError:
            config = None
        if config is not None and config.ledger.url:
            url, ca, settings = config.ledger.url, config.ledger.ca_file, config.ledger
    if url is None and (data_dir / "spool").is_dir():
        url = (saved_state(Spool(data_dir)) or {}).get("ledger")
    default_ca = data_dir / "keys" / "ledger-ca.pem"
    return url, ca or (default_ca if default_ca.exists() else None), settings


def deliver_now(data_dir: Path, certificate_ids: Sequence[str | None]) -> DeliverySummary:
    """Send the spool once (no retries: a session ends) and say where each certificate is."""
    from appliance.ledgertls import ledger_session
    from appliance.spool import Spool
    from appliance.uplink import Uplink, network_up

    url, ca, settings = ledger_for(data_dir)
    last_error = None
    if url and any(certificate_ids) and network_up():
        session = ledger_session(settings) if settings is not None else None
        uplink = Uplink(Spool(data_dir), url, ca=ca, timeout=(3.0, 10.0), session=session)
        last_error = uplink.flush_once().error
    return summarize(data_dir, certificate_ids, url, last_error)
