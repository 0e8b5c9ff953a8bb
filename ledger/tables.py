"""The ledger's tables (SQLAlchemy Core). Alembic migrations under ledger/migrations/ create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

appliances = Table(
    "appliances",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("public_key_pem", Text, nullable=False),
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # admin | enroll | session
    Column("name", String(200), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# One row per log leaf: the entry (RFC 8785 bytes of the whole signed certificate) and the
# columns search needs, copied out of it (verify-log checks they still match the entry).
certificates = Table(
    "certificates",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(64), nullable=False, unique=True),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("host_serial", String(200), nullable=False, server_default=""),
    Column("media_model", String(200), nullable=False, server_default=""),
    Column("media_serial", String(200), nullable=False, server_default=""),
    Column("batch", String(200), nullable=False, server_default=""),
    Column("donor", String(200), nullable=False, server_default=""),
    Column("status", String(32), nullable=False, server_default=""),
    Column("method", String(64), nullable=False, server_default=""),
    Column("nist_level", String(16), nullable=False, server_default=""),
    Column("verification", String(32), nullable=False, server_default=""),
    Index("ix_certificates_host_serial", "host_serial"),
    Index("ix_certificates_media_serial", "media_serial"),
    Index("ix_certificates_media_model", "media_model"),
    Index("ix_certificates_batch", "batch"),
    Index("ix_certificates_donor", "donor"),
    Index("ix_certificates_issued_at", "issued_at"),
)

# Signed tree heads, one per committed append batch.
tree_heads = Table(
    "tree_heads",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("timestamp", BigInteger, nullable=False),  # milliseconds since the epoch
    Column("signature", LargeBinary, nullable=False),
)

# The ledger's own Ed25519 key (signs tree heads): its public half. The private key lives in
# a file outside the database (ledger.logkey); private_key_pem is set only by a ledger
# started without a key file (tests), or by an older ledger until its next start moves it.
ledger_keys = Table(
    "ledger_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("private_key_pem", Text, nullable=True),
    Column("public_key_pem", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Latest heartbeat per appliance (rack view).
machines = Table(
    "machines",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("host_serial", String(200), nullable=False, server_default=""),
    Column("host_product", String(200), nullable=False, server_default=""),
    Column("host_maker", String(200), nullable=False, server_default=""),
    Column("mac", String(64), nullable=False, server_default=""),
    Column("batch", String(200), nullable=False, server_default=""),
    Column("journal", String(64), nullable=False, server_default=""),
    Column("jobs", Text, nullable=False, server_default="[]"),
    Column("sent_at", String(40), nullable=False, server_default=""),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("heartbeats", Integer, nullable=False, server_default="0"),
)
