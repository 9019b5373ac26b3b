"""The Merkle tree over a history, without a database: RFC 9162's hashing and proofs.

The vectors are the ones Certificate Transparency's implementations share: eight leaves,
the root of every prefix, and a few inclusion and consistency proofs among them.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from ledger.store import merkle

LEAVES = [bytes.fromhex(text) for text in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [bytes.fromhex(text) for text in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]


def hashes(*texts: str) -> list[bytes]:
    return [bytes.fromhex(text) for text in texts]


# (leaf index counting from 0, tree size, audit path)
INCLUSIONS = [
    (0, 1, []),
    (0, 8, hashes(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    )),
    (5, 8, hashes(
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )),
    (2, 3, hashes("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, hashes(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    )),
]

# (first size, second size, proof)
CONSISTENCIES = [
    (1, 1, []),
    (1, 8, hashes(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    )),
    (6, 8, hashes(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )),
    (2, 5, hashes(
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    )),
]

TREE = merkle.leaf_hashes(LEAVES)


def test_the_root_of_every_prefix_is_the_published_one() -> None:
    for size, expected in enumerate(ROOTS):
        assert merkle.root(TREE[:size]) == expected, size
        assert merkle.root(TREE, 0, size) == expected, size


def test_inclusion_proofs_are_the_published_ones_and_verify() -> None:
    for index, size, path in INCLUSIONS:
        assert merkle.inclusion_proof(TREE, index, size) == path, (index, size)
        assert merkle.verify_inclusion(index, size, TREE[index], path, ROOTS[size])


def test_consistency_proofs_are_the_published_ones_and_verify() -> None:
    for first, second, path in CONSISTENCIES:
        assert merkle.consistency_proof(TREE, first, second) == path, (first, second)
        assert merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], path)


def test_a_published_proof_fails_against_another_tree() -> None:
    index, size, path = INCLUSIONS[1]
    assert not merkle.verify_inclusion(index, size, TREE[index], path, ROOTS[7])
    assert not merkle.verify_inclusion(index, size - 1, TREE[index], path, ROOTS[size - 1])
    first, second, proof = CONSISTENCIES[2]
    assert not merkle.verify_consistency(first, second, ROOTS[first - 1], ROOTS[second], proof)
    assert not merkle.verify_consistency(second, first, ROOTS[second], ROOTS[first], proof)


def test_a_tree_that_shrank_is_never_consistent_with_the_larger_one() -> None:
    assert not merkle.verify_consistency(8, 6, ROOTS[8], ROOTS[6], [])
    assert not merkle.verify_consistency(6, 6, ROOTS[6], ROOTS[5], [])


# Distinct entries: with equal leaves, a proof for one place may well be the true proof
# of another (it holds the same hashes).
entries = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70, unique=True)
digests = st.binary(min_size=32, max_size=32)


@st.composite
def trees_with_a_leaf(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    leaves = merkle.leaf_hashes(draw(entries))
    size = draw(st.integers(1, len(leaves)))
    return leaves, draw(st.integers(0, size - 1)), size


@st.composite
def trees_with_two_sizes(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    leaves = merkle.leaf_hashes(draw(entries))
    second = draw(st.integers(1, len(leaves)))
    return leaves, draw(st.integers(1, second)), second


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162's definition, word for word, to check the level-by-level computation."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


@given(entries)
def test_the_root_is_the_one_the_definition_gives(raw: list[bytes]) -> None:
    leaves = merkle.leaf_hashes(raw)
    assert merkle.root(leaves) == reference_root(leaves)


@given(entries)
def test_the_tree_kept_whole_gives_the_root_of_every_prefix(raw: list[bytes]) -> None:
    leaves = merkle.leaf_hashes(raw)
    tree = merkle.Tree(leaves)
    assert [tree.root(size) for size in range(len(leaves) + 1)] == [
        merkle.root(leaves[:size]) for size in range(len(leaves) + 1)
    ]


@given(trees_with_a_leaf())
def test_every_inclusion_proof_verifies(tree: tuple[list[bytes], int, int]) -> None:
    leaves, index, size = tree
    path = merkle.inclusion_proof(leaves, index, size)
    assert merkle.verify_inclusion(index, size, leaves[index], path, merkle.root(leaves[:size]))


@given(trees_with_a_leaf(), digests)
def test_an_inclusion_proof_fails_for_an_altered_leaf_or_root(
    tree: tuple[list[bytes], int, int], other: bytes
) -> None:
    leaves, index, size = tree
    path = merkle.inclusion_proof(leaves, index, size)
    good_root = merkle.root(leaves[:size])
    assume(other not in (leaves[index], good_root))
    assert not merkle.verify_inclusion(index, size, other, path, good_root)
    assert not merkle.verify_inclusion(index, size, leaves[index], path, other)


@given(trees_with_a_leaf(), st.data())
def test_an_inclusion_proof_fails_for_a_tree_of_another_size(
    tree: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    # A size is believed only with the root it is signed with: the proof for one size
    # never passes for the tree of another (the root that size's checkpoint would carry).
    leaves, index, size = tree
    other = data.draw(st.integers(index + 1, len(leaves)))
    assume(other != size)
    path = merkle.inclusion_proof(leaves, index, size)
    other_root = merkle.root(leaves[:other])
    assert not merkle.verify_inclusion(index, other, leaves[index], path, other_root)


@given(trees_with_a_leaf())
def test_an_inclusion_proof_fails_for_another_place(tree: tuple[list[bytes], int, int]) -> None:
    leaves, index, size = tree
    assume(size > 1 and leaves.count(leaves[index]) == 1)
    path = merkle.inclusion_proof(leaves, index, size)
    good_root = merkle.root(leaves[:size])
    for elsewhere in (-1, *(i for i in range(size) if i != index), size):
        assert not merkle.verify_inclusion(elsewhere, size, leaves[index], path, good_root)


@given(trees_with_two_sizes())
def test_every_consistency_proof_verifies(tree: tuple[list[bytes], int, int]) -> None:
    leaves, first, second = tree
    proof = merkle.consistency_proof(leaves, first, second)
    assert merkle.verify_consistency(
        first, second, merkle.root(leaves[:first]), merkle.root(leaves[:second]), proof
    )


@given(trees_with_two_sizes(), digests)
def test_a_consistency_proof_fails_for_an_altered_root(
    tree: tuple[list[bytes], int, int], other: bytes
) -> None:
    leaves, first, second = tree
    proof = merkle.consistency_proof(leaves, first, second)
    first_root, second_root = merkle.root(leaves[:first]), merkle.root(leaves[:second])
    assume(other not in (first_root, second_root))
    assert not merkle.verify_consistency(first, second, other, second_root, proof)
    assert not merkle.verify_consistency(first, second, first_root, other, proof)


@given(trees_with_two_sizes(), st.integers(0, 69), digests)
def test_a_consistency_proof_fails_when_an_old_leaf_was_rewritten(
    tree: tuple[list[bytes], int, int], which: int, rewritten: bytes
) -> None:
    leaves, first, second = tree
    assume(first < second)
    old_root = merkle.root(leaves[:first])
    altered = list(leaves)
    altered[which % first] = merkle.leaf_hash(rewritten)
    assume(altered[which % first] != leaves[which % first])
    proof = merkle.consistency_proof(altered, first, second)
    assert not merkle.verify_consistency(
        first, second, old_root, merkle.root(altered[:second]), proof
    )


@given(trees_with_two_sizes(), st.data())
def test_a_consistency_proof_fails_between_trees_of_other_sizes(
    tree: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    leaves, first, second = tree
    other_second = data.draw(st.integers(1, len(leaves)))
    other_first = data.draw(st.integers(0, other_second))
    assume(first < second and (other_first, other_second) != (first, second))
    proof = merkle.consistency_proof(leaves, first, second)
    assert not merkle.verify_consistency(
        other_first, other_second,
        merkle.root(leaves[:other_first]), merkle.root(leaves[:other_second]), proof,
    )
