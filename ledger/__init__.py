"""The ledger: central certificate server with a verifiable append-only log."""

__version__ = "0.1.0"
