"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs, written out so a regulator can read them.

``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``; the tree of
n leaves splits at k, the largest power of two smaller than n. The empty tree's hash is SHA-256("").

Proofs follow RFC 9162 section 2.1.3 (inclusion) and 2.1.4 (consistency): generation is the RFC's
recursive definition over a list of leaf hashes, verification its iterative algorithm. A proof is a
list of 32-byte node hashes, nearest the leaf first. Verifiers raise :class:`ProofError` saying why.

Verification is not written twice: the verifiers here run the ones in
:mod:`audit_store.standalone_verify` (the ``verify.py`` of every audit package, standard library
only), so the store and a regulator decide with the same lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from audit_store import standalone_verify as sv
from audit_store.errors import ProofError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of a list of already-hashed leaves (iterative, O(n))."""
    if not hashes:
        return EMPTY_ROOT
    # Reduce level by level; a lone last node is carried up unchanged, which is exactly RFC 6962's
    # left-balanced split for every n.
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def root_recursive(hashes: Sequence[bytes]) -> bytes:
    """The definition in RFC 6962 as written, for tests of the iterative version."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = split_point(n)
    return node_hash(root_recursive(hashes[:k]), root_recursive(hashes[k:]))


class RootAccumulator:
    """Roots of every prefix of a growing log in O(log n) memory: the compact range of RFC 9162.

    ``verify`` streams leaves through it and reads the root at each checkpoint's size, instead of
    holding every leaf hash or recomputing each root from scratch.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # perfect subtrees, largest (leftmost) first

    def append(self, hashed_leaf: bytes) -> None:
        self.size += 1
        stack = self._stack
        stack.append((1, hashed_leaf))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            width, right = stack.pop()
            _, left = stack.pop()
            stack.append((2 * width, node_hash(left, right)))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            acc = node_hash(left, acc)
        return acc


# -- RFC 9162 section 2.1.3: inclusion proofs


def inclusion_proof(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index`` in the tree of ``hashes``."""
    n = len(hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} is outside a tree of size {n}")
    if n == 1:
        return []
    k = split_point(n)
    if index < k:
        return [*inclusion_proof(hashes[:k], index), root_from_leaf_hashes(hashes[k:])]
    return [*inclusion_proof(hashes[k:], index - k), root_from_leaf_hashes(hashes[:k])]


def verify_inclusion(
    index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2: raise :class:`ProofError` unless ``proof`` puts the leaf under ``root``.

    The algorithm is :func:`audit_store.standalone_verify.verify_inclusion`, the one a regulator
    reads and runs in ``verify.py``: one copy decides for the store and for the package.
    """
    try:
        sv.verify_inclusion(index, size, hashed_leaf, proof, root)
    except sv.CheckFailed as exc:
        raise ProofError(str(exc)) from exc


# -- RFC 9162 section 2.1.4: consistency proofs


def consistency_proof(hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]): proves the tree of the first ``old_size`` leaves is a prefix of all."""
    n = len(hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} is outside 0..{n}")
    if old_size in (0, n):
        return []
    return _subproof(hashes, old_size, True)


def _subproof(hashes: Sequence[bytes], m: int, complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [root_from_leaf_hashes(hashes)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(hashes[:k], m, complete), root_from_leaf_hashes(hashes[k:])]
    return [*_subproof(hashes[k:], m - k, False), root_from_leaf_hashes(hashes[:k])]


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 2.1.4.2: raise :class:`ProofError` unless the old tree is a prefix of the new.

    The algorithm is :func:`audit_store.standalone_verify.verify_consistency` (see above).
    """
    try:
        sv.verify_consistency(old_size, new_size, proof, old_root, new_root)
    except sv.CheckFailed as exc:
        raise ProofError(str(exc)) from exc
