"""Holding the service to its history: signed checkpoints of each polycule's Merkle tree,
the proofs between them, and the keys they are signed with (docs/verification.md)."""
