"""The Merkle tree over a polycule's history, hashed as RFC 9162 (section 2.1) says.

The leaves are the polycule's events in stream order; leaf ``i`` (counting from 0) is the
event at stream version ``i + 1``, and its input is that event's stored hash (32 bytes), so
a tree can be recomputed from an audit export's hashes alone, opaque entries included, and
crypto-shredding (which never touches a stored event) keeps every proof valid.

    leaf hash  = SHA-256(0x00 || stored event hash)
    node hash  = SHA-256(0x01 || left || right)
    empty tree = SHA-256("")

A tree of size ``n`` splits at ``k``, the largest power of two below ``n``: its left
subtree holds the first ``k`` leaves and is complete. Proofs are lists of node hashes,
exactly as RFC 9162 defines them; checking one needs nothing but this module (and nothing
here touches a database: the store hands in the leaves).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HASH_BYTES = 32
_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(_LEAF + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def empty_root() -> bytes:
    return hashlib.sha256(b"").digest()


def leaf_hashes(entries: Sequence[bytes]) -> list[bytes]:
    sha256 = hashlib.sha256
    return [sha256(_LEAF + entry).digest() for entry in entries]


def root(leaves: Sequence[bytes], start: int = 0, end: int | None = None) -> bytes:
    """The tree hash of ``leaves[start:end]`` (already leaf-hashed).

    Computed level by level: a node left without a partner is carried up unchanged,
    which builds the same tree as RFC 9162's split at the largest power of two.
    """
    end = len(leaves) if end is None else end
    if end <= start:
        return empty_root()
    level = list(leaves[start:end])
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


class Tree:
    """Every complete, aligned subtree's hash over a list of leaf hashes, computed once
    (n - 1 node hashes), so that the root of any prefix and the nodes of any proof are
    found among them with a few more hashes each (a logarithm's worth).

    RFC 9162's recursion only ever asks for ranges ``[start, end)`` that begin at a
    multiple of the largest power of two below their size: their left part is one of the
    complete subtrees kept here, and their right part is such a range again.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.size = len(leaves)
        # levels[h][i]: the hash of leaves [i * 2**h, (i + 1) * 2**h).
        self._levels: list[list[bytes]] = [list(leaves)]
        sha256 = hashlib.sha256  # node_hash, inlined: this loop is most of an answer's time
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append([
                sha256(_NODE + below[i] + below[i + 1]).digest()
                for i in range(0, len(below) - 1, 2)
            ])

    def subtree(self, start: int, end: int) -> bytes:
        """The tree hash of leaves ``[start, end)``, a range RFC 9162's recursion names."""
        size = end - start
        if size <= 0:
            return empty_root()
        if size & (size - 1) == 0 and start % size == 0:
            return self._levels[size.bit_length() - 1][start // size]
        k = _split(size)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        return self.subtree(0, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        if not 0 <= index < size <= self.size:
            raise ValueError(f"no leaf {index} in a tree of {size} (of {self.size} known)")
        path: list[bytes] = []
        start, end = 0, size
        # Walk down from the root, keeping the sibling of each subtree the leaf lies in;
        # the path lists them from the leaf upwards.
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start = start + k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The proof that the tree of ``first`` leaves is a prefix of that of ``second``."""
        if not 0 <= first <= second <= self.size:
            raise ValueError(f"no consistency between {first} and {second} ({self.size} known)")
        if first in (0, second):
            return []
        path: list[bytes] = []
        start, end, m, complete = 0, second, first, True
        while True:
            size = end - start
            if m == size:
                if not complete:
                    path.append(self.subtree(start, end))
                break
            k = _split(size)
            if m <= k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start, m, complete = start + k, m - k, False
        path.reverse()
        return path


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    return Tree(leaves).inclusion_proof(index, size)


def consistency_proof(leaves: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    return Tree(leaves).consistency_proof(first, second)


def _same(left: bytes, right: bytes) -> bool:
    return hmac.compare_digest(left, right)


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2), or None if it is malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return result if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """Whether ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` with that root."""
    found = root_from_inclusion(index, size, leaf, path)
    return found is not None and _same(found, expected_root)


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether the tree of ``first`` leaves (``first_root``) is a prefix of the tree of
    ``second`` leaves (``second_root``), as RFC 9162 2.1.4.2 checks it."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not path and _same(first_root, second_root)
    if first == 0:
        # Every tree extends the empty one; there is nothing to prove.
        return not path
    if not path:
        return False
    nodes = list(path)
    if first & (first - 1) == 0:  # a power of two: the old root is a node of the new tree
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_result = second_result = nodes[0]
    for node in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first_result = node_hash(node, first_result)
            second_result = node_hash(node, second_result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second_result = node_hash(second_result, node)
        fn >>= 1
        sn >>= 1
    return (
        sn == 0 and _same(first_result, first_root) and _same(second_result, second_root)
    )
