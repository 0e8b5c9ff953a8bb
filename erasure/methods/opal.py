"""TCG Opal PSID revert through sedutil-cli: the drive discards its media encryption key
and returns to factory state. Only with the PSID the operator typed from the drive's
label (`ctx.options["psid"]`); never guessed, never read from anywhere else.
"""

from __future__ import annotations

import re
import time

from erasure import firmware
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult
from erasure.text import Msg

TIMEOUT_S = 600.0
PSID_RE = re.compile(r"^[0-9A-Za-z]{32}$")


class OpalPsidRevert:
    name = "opal-psid-revert"
    family = "opal"
    technique = "cryptographic erase"

    def supported(self, disk: Disk) -> bool:
        opal = disk.extra.get("opal")
        return isinstance(opal, dict) and bool(opal.get("supported"))

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique, tool="sedutil-cli --PSIDrevert")
        start = time.monotonic()
        psid = str(ctx.options.get("psid") or "").replace("-", "").strip()
        if not psid:
            result.errors.append(Msg("PSID revert needs the PSID printed on the drive's label, "
                                     "typed by the operator"))
            return result
        if not PSID_RE.match(psid):
            result.errors.append(Msg("a PSID is 32 letters or digits"))
            return result
        result.details["condition"] = firmware.CRYPTO_CONDITION
        if not firmware.take_before_samples(disk, result, ctx):
            return result
        res = firmware.command_waiting(["sedutil-cli", "--PSIDrevert", psid, disk.path],
                                       TIMEOUT_S, result, ctx, disk, self.name, secret=psid)
        result.seconds = time.monotonic() - start
        if res is not None:
            result.status = "erased"
        return result


register(OpalPsidRevert())
