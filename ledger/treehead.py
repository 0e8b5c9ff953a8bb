"""Signed tree heads: the ledger's own Ed25519 key signs (timestamp, tree size, root hash).

The signed bytes follow RFC 9162's TreeHeadDataV2 (section 4.10): uint64 timestamp in
milliseconds, uint64 tree_size, then the root hash as an opaque<32..2^8-1> (one length byte).
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.certificate import key_id, public_pem


def tree_head_bytes(timestamp_ms: int, tree_size: int, root_hash: bytes) -> bytes:
    return struct.pack(">QQB", timestamp_ms, tree_size, len(root_hash)) + root_hash


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    root_hash: bytes
    timestamp: int  # ms since the epoch
    signature: bytes

    def signed_bytes(self) -> bytes:
        return tree_head_bytes(self.timestamp, self.tree_size, self.root_hash)

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, self.signed_bytes())
        except InvalidSignature:
            return False
        return True

    def as_json(self, signer_key_id: str) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": signer_key_id,
        }


@dataclass(frozen=True)
class LogKey:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def public_pem(self) -> str:
        return public_pem(self.public_key).decode("ascii")

    def sign_head(self, tree_size: int, root_hash: bytes, timestamp_ms: int) -> TreeHead:
        sig = self.private_key.sign(tree_head_bytes(timestamp_ms, tree_size, root_hash))
        return TreeHead(tree_size, root_hash, timestamp_ms, sig)
