"""The words every front end uses for a disk's verdict (the certificate's status).

Statuses (JSON, certificates, the ledger): erased | unverified | failed | refused |
incomplete. Only "erased" is a success, and only with verification evidence: "unverified"
means the erase command ran but nothing was read back (`--verify none`), so the disk is
not certified as erased and the exit status is 1.
"""

from __future__ import annotations

from appliance.i18n import _

STATUSES = ("erased", "unverified", "failed", "refused", "incomplete")


def status_word(status: str) -> str:
    """The status for people, in their language (JSON keeps the English value)."""
    return {"erased": _("erased"), "unverified": _("NOT VERIFIED"), "failed": _("FAILED"),
            "refused": _("refused"), "incomplete": _("INCOMPLETE")}.get(status, status)


def not_verified() -> str:
    """What an unverified disk is, in plain words."""
    return _("NOT VERIFIED: the erase command ran but nothing was read back; this disk is "
             "not certified as erased")
