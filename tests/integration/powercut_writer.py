"""Child process of the power-cut test: writes certificates into a spool, reporting each.

    python -m tests.integration.powercut_writer DATA TOTAL

Writes certificates until the spool holds TOTAL (so a restarted writer carries on where
the killed one stopped). Prints "READY" once set up, then "P <id>" after each
Spool.put() has returned, and every third certificate "S <id>" after Spool.mark_sent() of
an earlier one has returned. The parent kills it with SIGKILL at random moments.
"""

from __future__ import annotations

import sys
from pathlib import Path

from appliance import certificate, certify
from appliance.spool import Spool
from tests.unit import certsample


def main() -> None:
    data, total = Path(sys.argv[1]), int(sys.argv[2])
    key = certify.load_key(data, create=False)
    kid = certificate.key_id(key.public_key())
    spool = Spool(data)
    counts = spool.counts()
    have = counts["pending"] + counts["sent"]
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    for i in range(have, total):
        doc = certify.build_certificate(outcome=certsample.nvme_outcome(), host=certsample.host(),
                                        context=certsample.context(), image=certsample.image(),
                                        job_id=f"powercut-{i}", key_id_hex=kid)
        spool.put(certificate.sign(doc, key))  # the parent checks the schema of every file
        out.write(f"P {doc['id']}\n")
        out.flush()
        pending = spool.pending()
        if i % 3 == 2 and pending:
            spool.mark_sent(pending[0])
            out.write(f"S {pending[0]}\n")
            out.flush()


if __name__ == "__main__":
    main()
