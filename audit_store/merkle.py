"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs, written out so a regulator can read them.

``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``; the tree of
n leaves splits at k, the largest power of two smaller than n. The empty tree's hash is SHA-256("").

Proofs follow RFC 9162 section 2.1.3 (inclusion) and 2.1.4 (consistency): generation is the RFC's
recursive definition over a list of leaf hashes, verification its iterative algorithm. A proof is a
list of 32-byte node hashes, nearest the leaf first. Verifiers raise :class:`ProofError` saying why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from audit_store.errors import ProofError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
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
    k = _split(n)
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
    k = _split(n)
    if index < k:
        return [*inclusion_proof(hashes[:k], index), root_from_leaf_hashes(hashes[k:])]
    return [*inclusion_proof(hashes[k:], index - k), root_from_leaf_hashes(hashes[:k])]


def verify_inclusion(
    index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2: raise :class:`ProofError` unless ``proof`` puts the leaf under ``root``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_sizes(hashed_leaf, root, *proof)
    fn, sn, r = index, size - 1, hashed_leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root hash")


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
    k = _split(n)
    if m <= k:
        return [*_subproof(hashes[:k], m, complete), root_from_leaf_hashes(hashes[k:])]
    return [*_subproof(hashes[k:], m - k, False), root_from_leaf_hashes(hashes[:k])]


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 2.1.4.2: raise :class:`ProofError` unless the old tree is a prefix of the new."""
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"tree size went from {old_size} to {new_size}")
    _check_sizes(old_root, new_root, *proof)
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different root hashes for tree size {old_size}")
        return
    if old_size == 0:  # the empty tree is a prefix of every tree
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node of the new
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofError(f"consistency proof does not reproduce the root of tree size {old_size}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not reproduce the root of tree size {new_size}")


def _check_sizes(*hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError(f"a hash in the proof is not {HASH_SIZE} bytes long")
