"""`ardoise-ledger` (placeholder until the ledger issue lands)."""

import sys


def main() -> int:
    print("ardoise-ledger: not available yet", file=sys.stderr)
    return 2
