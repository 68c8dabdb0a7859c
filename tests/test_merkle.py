"""RFC 6962 hashing and RFC 9162 proofs against Certificate Transparency's known answers.

The vectors are those of transparency-dev/merkle (proof/verify_test.go), themselves from the
original certificate-transparency code: eight leaves, their roots at sizes 1..8, and inclusion and
consistency proofs. Leaf indexes there are 1-based; here they are 0-based.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_store.errors import ProofError
from audit_store.merkle import (
    EMPTY_ROOT,
    RootAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    root_recursive,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
HASHES = [leaf_hash(d) for d in LEAVES]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def _h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


# (leaf index, tree size, proof)
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _h(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _h(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _h(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# -- hashing


def test_empty_tree_is_sha256_of_nothing() -> None:
    assert root_from_leaf_hashes([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert EMPTY_ROOT.hex().startswith("e3b0c442")


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_known_answers(size: int) -> None:
    assert root_from_leaf_hashes(HASHES[:size]) == ROOTS[size - 1]
    assert root_recursive(HASHES[:size]) == ROOTS[size - 1]


def test_iterative_root_and_accumulator_match_the_definition() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(70)]
    accumulator = RootAccumulator()
    assert accumulator.root() == EMPTY_ROOT
    for n in range(1, 71):
        accumulator.append(hashes[n - 1])
        expected = root_recursive(hashes[:n])
        assert root_from_leaf_hashes(hashes[:n]) == expected
        assert accumulator.root() == expected
        assert accumulator.size == n


# -- inclusion


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    """Go's corruptInclusionProof: each probe must fail."""
    probes = [
        ("index - 1", index - 1, size, leaf, proof, root),
        ("index + 1", index + 1, size, leaf, proof, root),
        ("index ^ 2", index ^ 2, size, leaf, proof, root),
        ("size * 2", index, size * 2, leaf, proof, root),
        ("size // 2", index, size // 2, leaf, proof, root),
        ("wrong leaf", index, size, b"WrongLeaf", proof, root),
        ("empty root", index, size, leaf, proof, EMPTY_ROOT),
        ("random root", index, size, leaf, proof, SOME_HASH),
        ("trailing garbage", index, size, leaf, [*proof, b""], root),
        ("trailing root", index, size, leaf, [*proof, root], root),
        ("preceding garbage", index, size, leaf, [b"", *proof], root),
        ("preceding root", index, size, leaf, [root, *proof], root),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = _flip(wrong[i], 3)
        probes.append((f"proof[{i}] bit 3", index, size, leaf, wrong, root))
    if proof:
        probes.append(("removed component", index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        probes.append(
            ("inserted component", index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root)
        )
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_known_answers(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(HASHES[:size], index) == proof
    root = ROOTS[size - 1]
    verify_inclusion(index, size, HASHES[index], proof, root)
    for desc, i, n, leaf, wrong, r in _inclusion_probes(index, size, proof, root, HASHES[index]):
        with pytest.raises(ProofError):
            verify_inclusion(i, n, leaf, wrong, r)
            pytest.fail(f"verified a corrupt inclusion proof: {desc}")


def test_inclusion_single_entry_and_bad_sizes() -> None:
    single = leaf_hash(b"data")
    verify_inclusion(0, 1, single, [], single)
    for index, size in ((0, 0), (1, 0), (1, 1), (2, 1)):
        with pytest.raises(ProofError):
            verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_inclusion(0, 1, b"", [], b"")  # wrong hash size
    with pytest.raises(ValueError):
        inclusion_proof(HASHES, 8)


# -- consistency


def _consistency_probes(
    m: int, n: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """Go's corruptConsistencyProof: each probe must fail."""
    probes = [
        ("size1 - 1", m - 1, n, root1, root2, proof),
        ("size1 + 1", m + 1, n, root1, root2, proof),
        ("size1 ^ 2", m ^ 2, n, root1, root2, proof),
        ("size2 * 2", m, n * 2, root1, root2, proof),
        ("size2 // 2", m, n // 2, root1, root2, proof),
        ("wrong root1", m, n, SOME_HASH, root2, proof),
        ("wrong root2", m, n, root1, SOME_HASH, proof),
        ("swapped roots", m, n, root2, root1, proof),
        ("empty proof", m, n, root1, root2, []),
        ("trailing garbage", m, n, root1, root2, [*proof, b""]),
        ("trailing root1", m, n, root1, root2, [*proof, root1]),
        ("trailing root2", m, n, root1, root2, [*proof, root2]),
        ("preceding garbage", m, n, root1, root2, [b"", *proof]),
        ("preceding root1", m, n, root1, root2, [root1, *proof]),
        ("preceding root2", m, n, root1, root2, [root2, *proof]),
        ("preceding proof[0]", m, n, root1, root2, [proof[0], *proof]),
        ("truncated proof", m, n, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = _flip(wrong[i], 4)
        probes.append((f"proof[{i}] bit 4", m, n, root1, root2, wrong))
    return probes


@pytest.mark.parametrize(("m", "n", "proof"), CONSISTENCY)
def test_consistency_proofs_match_known_answers(m: int, n: int, proof: list[bytes]) -> None:
    assert consistency_proof(HASHES[:n], m) == proof
    root1, root2 = ROOTS[m - 1], ROOTS[n - 1]
    verify_consistency(m, n, proof, root1, root2)
    if not proof:
        return
    for desc, m2, n2, r1, r2, wrong in _consistency_probes(m, n, root1, root2, proof):
        with pytest.raises(ProofError):
            verify_consistency(m2, n2, wrong, r1, r2)
            pytest.fail(f"verified a corrupt consistency proof: {desc}")


@pytest.mark.parametrize(
    ("m", "n", "root1", "root2", "proof", "ok"),
    [
        (0, 0, SOME_HASH, EMPTY_ROOT, [], False),  # two roots for one size
        (1, 1, SOME_HASH, EMPTY_ROOT, [], False),
        (0, 0, SOME_HASH, SOME_HASH, [], True),
        (0, 1, SOME_HASH, EMPTY_ROOT, [], True),  # the empty tree is a prefix of any
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (1, 0, SOME_HASH, EMPTY_ROOT, [], False),  # time travel
        (2, 1, SOME_HASH, EMPTY_ROOT, [], False),
        (1, 2, SOME_HASH, EMPTY_ROOT, [], False),  # empty proof
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),  # roots match, proof not empty
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    ],
)
def test_consistency_edge_cases(
    m: int, n: int, root1: bytes, root2: bytes, proof: list[bytes], ok: bool
) -> None:
    if ok:
        verify_consistency(m, n, proof, root1, root2)
    else:
        with pytest.raises(ProofError):
            verify_consistency(m, n, proof, root1, root2)


def test_every_consistency_proof_of_the_vectors_verifies() -> None:
    for n in range(0, 9):
        for m in range(0, n + 1):
            proof = consistency_proof(HASHES[:n], m)
            verify_consistency(m, n, proof, root_recursive(HASHES[:m]), root_recursive(HASHES[:n]))


# -- properties


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    size = draw(st.integers(min_value=1, max_value=300))
    seed = draw(st.binary(max_size=4))
    hashes = [leaf_hash(seed + i.to_bytes(3, "big")) for i in range(size)]
    return hashes, draw(st.integers(min_value=0, max_value=size - 1))


@settings(max_examples=150, deadline=None)
@given(tree_and_index(), st.data())
def test_inclusion_proofs_verify_and_any_flipped_bit_fails(
    tree: tuple[list[bytes], int], data: st.DataObject
) -> None:
    hashes, index = tree
    size, root = len(hashes), root_from_leaf_hashes(hashes)
    proof = inclusion_proof(hashes, index)
    verify_inclusion(index, size, hashes[index], proof, root)

    target = data.draw(st.integers(min_value=0, max_value=len(proof) + 1), label="target")
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    leaf, path, r = hashes[index], list(proof), root
    if target == len(proof):
        leaf = _flip(leaf, bit)
    elif target == len(proof) + 1:
        r = _flip(r, bit)
    else:
        path[target] = _flip(path[target], bit)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf, path, r)
    other = data.draw(st.integers(min_value=0, max_value=size), label="other index")
    if other != index and (other == size or hashes[other] != hashes[index]):
        with pytest.raises(ProofError):
            verify_inclusion(other, size, hashes[index], proof, root)


@settings(max_examples=150, deadline=None)
@given(tree_and_index(), st.data())
def test_consistency_proofs_verify_and_any_flipped_bit_fails(
    tree: tuple[list[bytes], int], data: st.DataObject
) -> None:
    hashes, _ = tree
    n = len(hashes)
    m = data.draw(st.integers(min_value=1, max_value=n), label="old size")
    old_root, new_root = root_from_leaf_hashes(hashes[:m]), root_from_leaf_hashes(hashes)
    proof = consistency_proof(hashes, m)
    verify_consistency(m, n, proof, old_root, new_root)
    if m == n:
        return
    target = data.draw(st.integers(min_value=0, max_value=len(proof) + 1), label="target")
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    path, r1, r2 = list(proof), old_root, new_root
    if target == len(proof):
        r1 = _flip(r1, bit)
    elif target == len(proof) + 1:
        r2 = _flip(r2, bit)
    else:
        path[target] = _flip(path[target], bit)
    with pytest.raises(ProofError):
        verify_consistency(m, n, path, r1, r2)
