"""The English codes a French reader must never meet: every status, verification mode and
result, job step and image outcome the records use, and argparse's own words.

Method names (`overwrite`, `nvme-sanitize-crypto`...) are codes in every language (the
names `--method` takes, see appliance/words.py): they are taken out of the text first, as
are the NIST level names Clear and Purge, which French keeps."""

from __future__ import annotations

import json
import re

from appliance.certificate import SCHEMA_PATH

ENGLISH = (
    # certificate and job statuses, image outcomes
    "erased", "unverified", "failed", "incomplete", "refused", "imaged", "running",
    # verification results and modes
    "pass", "fail", "passed", "not-done", "not done", "sample", "sampled", "full", "none",
    # NIST levels as codes (the names "Clear"/"Purge" stay; "purge" is French too)
    "clear", "destroy",
    # job steps
    "discovered", "planned", "erasing", "verifying", "imaging", "hashing", "certified",
    "spooled", "sent", "pending", "waiting",
    # techniques, exclusions
    "block erase", "cryptographic erase", "mounted", "boot medium", "excluded",
    # argparse
    "usage:", "error:", "the following arguments are required", "invalid choice",
)
METHODS = sorted(json.loads(SCHEMA_PATH.read_text())["$defs"]["method"]["enum"], key=len,
                 reverse=True)
_WORDS = re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w in ENGLISH) + r")(?![\w-])")


def english_words(text: str) -> list[str]:
    """The English codes left in `text` (method names removed first)."""
    for method in METHODS:
        text = re.sub(r"(?<![\w-])" + re.escape(method) + r"(?![\w-])", "", text)
    return sorted(set(_WORDS.findall(text)))
