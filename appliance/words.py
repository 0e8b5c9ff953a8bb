"""The values a person reads, in their language: statuses, verification modes and results,
NIST levels, image outcomes, job steps.

Records and JSON keep the English codes (`"erased"`, `"sample"`, `"pass"`); every front end
(CLI text, TUI, certificate PDF, ledger pages and reports) turns them into words here, at
display time. Method names (`nvme-sanitize-crypto`, `overwrite`...) stay codes in every
language: they are the names `--method` takes and the certificate holds, and the page
shows their technique in words beside them.
"""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal

from appliance.i18n import N_, _, format_number, get_language, npgettext

STATUS = {"erased": N_("erased"), "unverified": N_("not verified"), "failed": N_("failed"),
          "incomplete": N_("incomplete"), "refused": N_("refused"),
          "running": N_("running")}
STATUS_BADGE = {"erased": N_("ERASED"), "unverified": N_("NOT VERIFIED"), "failed": N_("FAILED"),
                "incomplete": N_("INCOMPLETE"), "refused": N_("REFUSED")}
VERIFY_RESULT = {"pass": N_("passed"), "fail": N_("failed"), "not-done": N_("not done")}
VERIFY_MODE = {"none": N_("none"), "sample": N_("sampled read-back"),
               "full": N_("full read-back")}
LEVEL = {"clear": N_("Clear"), "purge": N_("Purge"), "destroy": N_("Destroy")}
IMAGE = {"imaged": N_("written and verified"), "failed": N_("failed"),
         "refused": N_("refused")}
TECHNIQUE = {"overwrite": N_("overwrite"), "block erase": N_("block erase"),
             "cryptographic erase": N_("cryptographic erase")}
STEP = {"discovered": N_("starting"), "planned": N_("planned"), "erasing": N_("erasing"),
        "verifying": N_("checking the erasure"), "imaging": N_("installing the system"),
        "hashing": N_("checking the system"), "certified": N_("writing the certificate"),
        "spooled": N_("certificate saved"), "sent": N_("certificate sent")}


def percent(fraction: float, digits: int = 1) -> str:
    """0.25 → "25.0 %" / "25,0 %" (the reader's decimal sign, a no-break space)."""
    return format_decimal(fraction * 100, format="0." + "0" * digits if digits else "0",
                          locale=get_language()) + "\u00a0%"


def _word(table: dict[str, str], value: str | None, empty: str = "-") -> str:
    if value is None or value == "":
        return empty
    return _(table[value]) if value in table else str(value)


def status_word(value: str | None) -> str:
    """A certificate's or job's status: "erased" → "effacé"."""
    return _word(STATUS, value)


def status_badge(value: str | None) -> str:
    return _word(STATUS_BADGE, value, "?") if value in STATUS_BADGE else str(value).upper()


def status_count_word(value: str, n: int) -> str:
    """The status as the label of a count: 1 effacé, 7 effacés."""
    words = {
        "erased": npgettext("count", "erased", "erased", n),
        "unverified": npgettext("count", "not verified", "not verified", n),
        "failed": npgettext("count", "failed", "failed", n),
        "incomplete": npgettext("count", "incomplete", "incomplete", n),
        "refused": npgettext("count", "refused", "refused", n),
    }
    return words.get(value, value)


def status_counts(counts: dict[str, int]) -> str:
    """"effacés : 7, échec : 1" (statuses in a stable order)."""
    return ", ".join(_("{status}: {n}").format(status=status_count_word(s, n),
                                                n=format_number(n, 0))
                     for s, n in sorted(counts.items()))


def verify_result_word(value: str | None) -> str:
    return _word(VERIFY_RESULT, value)


def verify_mode_word(value: str | None) -> str:
    return _word(VERIFY_MODE, value)


def level_word(value: str | None) -> str:
    return _word(LEVEL, value)


def image_word(value: str | None) -> str:
    return _word(IMAGE, value)


def technique_word(value: str | None) -> str:
    return _word(TECHNIQUE, value, "—")


def step_word(value: str | None) -> str:
    return _word(STEP, value)


def msg_params(params: dict[str, Any]) -> dict[str, Any]:
    """A lower layer's message parameters for people: a NIST level code ("purge") in words,
    a message inside the message (a reason) in the same language."""
    from appliance.i18n import Msg, tr

    return {k: tr(v) if isinstance(v, Msg) else level_word(v) if k == "level" and v in LEVEL
            else v for k, v in params.items()}


def method_word(value: str | None) -> str:
    """Method names are codes in every language (see the module's docstring)."""
    return value or "-"


def image_outcome(image: dict[str, Any] | None) -> tuple[str, str | None, str]:
    """The image write as one line for people: (label, reason or None, colour key)."""
    if not image:
        return _("IMAGE: not written"), None, "grey"
    status, errors = image.get("status"), image.get("errors") or []
    if status == "imaged" and image.get("verified"):
        return _("IMAGE: written and verified"), None, "ok"
    if status in ("failed", "refused"):
        label = _("IMAGE: FAILED") if status == "failed" else _("IMAGE: REFUSED")
        return label, (errors[0] if errors else None), "bad"
    return _("IMAGE: not verified"), (errors[0] if errors else None), "warn"
