"""Pure parts of ringloop.sync: the hybrid clock, the merge rule, the digest tree, the wire encodings."""
import itertools
import random

import pytest

from ringloop.sync.digest import (FP_SIZE, DigestTree, fingerprint, leaf_of, pack_fingerprints, salt_of,
                                  unpack_fingerprints)
from ringloop.sync.hlc import HybridClock, receive, tick
from ringloop.sync.model import Record, from_wire, merge, record_hash
from ringloop.sync.protocol import MAGIC, VERSION, MalformedMessage, Reader, Writer


def test_tick_and_receive_move_past_everything_seen():
    assert tick((5, 3), 4) == (5, 4)
    assert tick((5, 3), 9) == (9, 0)
    assert receive((5, 3), (5, 7), 1) == (5, 8)
    assert receive((5, 3), (6, 7), 1) == (6, 8)
    assert receive((5, 3), (4, 7), 9) == (9, 0)
    clock = HybridClock(wall=lambda: 0.001)
    first = clock.now()
    clock.observe((10_000, 2))
    assert clock.now() > (10_000, 2) > first


def test_clock_is_monotonic_when_the_wall_goes_back():
    walls = iter([10.0, 5.0, 5.0, 11.0])
    clock = HybridClock(wall=lambda: next(walls))
    stamps = [clock.now() for _ in range(4)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4


SALT = salt_of(bytes(range(16)))


def rec(state, hlc, node="a", gen=0, rid="x"):
    return Record(rid, state, None if state in ("REVOKED", "DELETED") else {"v": hlc}, (hlc, 0), node, gen)


def test_last_writer_wins_by_clock_then_node():
    assert merge(rec("WORKING", 1), rec("FAILED", 2)).state == "FAILED"
    assert merge(rec("FAILED", 2, "a"), rec("WORKING", 2, "b")).node == "b"
    assert merge(None, rec("WORKING", 1)).state == "WORKING"


def test_success_is_final_within_its_generation_and_a_revoke_beats_it():
    success = rec("SUCCESS", 1)
    assert merge(success, rec("FAILED", 9, "z")) is success
    revoke = rec("REVOKED", 2, gen=1)
    assert merge(success, revoke) is revoke
    relaunch = rec("WORKING", 3, gen=1)
    assert merge(revoke, relaunch) is relaunch


def test_merge_is_commutative_associative_idempotent():
    pool = [rec(s, h, n, g) for s, h, n, g in itertools.product(
        ["WORKING", "FAILED", "SUCCESS", "REVOKED"], [1, 2], ["a", "b"], [0, 1])]
    rng = random.Random(7)
    for _ in range(300):
        batch = rng.sample(pool, 5)
        results = set()
        for order in itertools.islice(itertools.permutations(batch), 20):
            acc = None
            for r in order:
                acc = merge(acc, r)
            results.add(repr(acc))
        assert len(results) == 1
    assert merge(pool[0], pool[0]) is pool[0]
    with pytest.raises(ValueError):
        merge(rec("WORKING", 1), rec("WORKING", 1, rid="y"))


def test_record_hash_is_128_bits_and_covers_every_field():
    base = rec("SUCCESS", 1)
    assert len(record_hash(base)) == 16
    variants = [rec("FAILED", 1), rec("SUCCESS", 2), rec("SUCCESS", 1, "b"), rec("SUCCESS", 1, gen=1),
                rec("SUCCESS", 1, rid="y")]
    assert len({record_hash(r) for r in [base] + variants}) == 6


@pytest.mark.parametrize("bad", [None, [], ["x", "NOPE", None, [1, 0], "a", 0], ["", "WORKING", None, [1, 0], "a", 0],
                                 ["x", "REVOKED", 1, [1, 0], "a", 0], ["x", "WORKING", None, [1], "a", 0],
                                 ["x", "WORKING", None, [1, 0], "a", -1], ["x", "WORKING", None, [1, 0], 3, 0]])
def test_from_wire_refuses_malformed_records(bad):
    with pytest.raises(ValueError):
        from_wire(bad)


def test_digest_tree_finds_exactly_the_changed_leaves():
    mine, theirs = DigestTree(4), DigestTree(4)
    ids = [f"id-{n}" for n in range(500)]
    for rid in ids:
        h = record_hash(rec("SUCCESS", 1, rid=rid))
        mine.toggle(leaf_of(rid, 4), h)
        theirs.toggle(leaf_of(rid, 4), h)
    assert mine.root == theirs.root
    changed = ids[::97]
    for rid in changed:
        theirs.toggle(leaf_of(rid, 4), record_hash(rec("SUCCESS", 1, rid=rid)))
        theirs.toggle(leaf_of(rid, 4), record_hash(rec("REVOKED", 2, gen=1, rid=rid)))
    assert mine.root != theirs.root
    parents = [0]
    for level in range(4):
        parents = theirs.differing(level, parents, mine.child_fingerprints(level, parents, SALT), SALT)
    assert parents == sorted({leaf_of(rid, 4) for rid in changed})
    for rid in changed:  # toggling back restores the root: XOR digests
        theirs.toggle(leaf_of(rid, 4), record_hash(rec("REVOKED", 2, gen=1, rid=rid)))
        theirs.toggle(leaf_of(rid, 4), record_hash(rec("SUCCESS", 1, rid=rid)))
    assert mine.root == theirs.root


def test_fingerprints_are_32_bits_and_a_collision_does_not_survive_a_new_salt():
    values = [int.from_bytes(record_hash(rec("SUCCESS", n)), "big") for n in range(1000)]
    fps = [fingerprint(v, SALT) for v in values]
    assert all(0 <= fp < 1 << 32 for fp in fps) and len(set(fps)) == 1000
    assert unpack_fingerprints(pack_fingerprints(fps)) == fps and len(pack_fingerprints(fps)) == 1000 * FP_SIZE
    # Two values made to collide under one salt (equal top bits after the multiplication) part under others.
    a, b = values[0], values[0] ^ 1  # differ in the lowest bit only
    salt = salt_of((1).to_bytes(16, "big"))  # the multiplier 1: the top 32 bits of each, equal here
    assert fingerprint(a, salt) == fingerprint(b, salt)
    rng = random.Random(5)
    salts = [salt_of(rng.randbytes(16)) for _ in range(200)]  # what sync_once draws (from os.urandom)
    assert not any(fingerprint(a, s) == fingerprint(b, s) for s in salts)
    with pytest.raises(ValueError):
        salt_of(b"short")
    with pytest.raises(ValueError):
        unpack_fingerprints(b"\0" * 5)


def test_digest_tree_refuses_bad_input():
    tree = DigestTree(3)
    with pytest.raises(ValueError):
        tree.differing(0, [0], b"short", SALT)
    with pytest.raises(ValueError):
        tree.differing(1, [4], b"\0" * 4 * FP_SIZE, SALT)
    with pytest.raises(ValueError):
        DigestTree(0)


def test_messages_round_trip_every_field():
    records = [rec("SUCCESS", 1_700_000_000_123, "node-a", rid="é-1"), rec("REVOKED", 2, "b", gen=3),
               Record("n", "WORKING", None, (5, 1 << 40), "node-a")]
    indexes = [0, 1, 5, 300, 70_000, 262_143]
    data = (Writer(3).varint(0).varint((1 << 64) - 1).text("nœud").blob(b"\0\xff").hlc((1_700_000_000_000, 7))
            .indexes(indexes).indexes([]).records(records).records([]).finish())
    assert data[:6] == MAGIC + bytes((VERSION, 3))
    message = Reader(data, 3)
    assert (message.varint(), message.varint(), message.text(16), message.blob(), message.hlc()) == (
        0, (1 << 64) - 1, "nœud", b"\0\xff", (1_700_000_000_000, 7))
    assert message.indexes(262_144) == indexes and message.indexes(1) == []
    assert message.records() == records and message.records() == []
    message.done()
    with pytest.raises(ValueError):
        Writer(1).indexes([3, 3])
    with pytest.raises(ValueError):
        Writer(1).varint(-1)


def good_push():
    return Writer(5).text("n").records([rec("SUCCESS", 1)]).finish()


@pytest.mark.parametrize("data, kind, read", [
    (b"", 5, None),                                              # empty
    (b'{"node": "n"}', 5, None),                                 # JSON, not a sync message
    (MAGIC + bytes((VERSION + 1, 5)), 5, None),                  # another version
    (good_push(), 4, None),                                      # sent to another route
    (good_push()[:-1], 5, "push"),                               # cut short
    (good_push() + b"\0", 5, "push"),                            # bytes left over
    (Writer(5).text("n").varint(0).varint(1).text("x").varint(9).finish(), 5, "push"),  # state out of range
    (Writer(5).text("n").varint(1).text("a").varint(1).text("x").varint(2).blob(b"{bad").varint(1).varint(0)
     .varint(0).varint(0).finish(), 5, "push"),                  # payload not JSON
    (Writer(5).text("n").varint(1).text("a").varint(1).text("x").varint(3).blob(b"1").varint(1).varint(0)
     .varint(0).varint(0).finish(), 5, "push"),                  # a tombstone with a payload
    (Writer(5).text("n").varint(0).varint(1).text("x").varint(2).blob(b"").varint(1).varint(0)
     .varint(0).varint(0).finish(), 5, "push"),                  # node number out of the (empty) table
    (Writer(5).text("n").varint(1 << 40).finish(), 5, "push"),   # a count larger than the message
    (Writer(5).blob(b"\xff\xfe").finish(), 5, "text"),           # not UTF-8
    (Writer(5).finish() + b"\xff" * 11, 5, "varint"),            # a varint over 64 bits
    (Writer(5).indexes([10]).finish(), 5, "indexes"),            # an index out of range
])
def test_reader_refuses_malformed_messages(data, kind, read):
    with pytest.raises(MalformedMessage):
        message = Reader(data, kind)
        if read == "push":
            message.text(512)
            message.records(10)
            message.done()
        elif read == "text":
            message.text(512)
        elif read == "varint":
            message.varint()
        elif read == "indexes":
            message.indexes(10)
