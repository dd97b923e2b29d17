"""The journal format on its own: encoding, framing, and recovery by the scanner (no I/O)."""
import random
import struct
import zlib

import pytest

from ringloop.recorder import journal
from ringloop.recorder.journal import (
    MAGIC,
    JournalCorrupt,
    JsonText,
    NotAJournal,
    Scanner,
    build_frames,
    decode_payload,
    encode_record,
    make_frame,
)


def journal_bytes(batches, seq=0):
    """MAGIC and one frame per batch of records, as JournalStorage writes them."""
    out = bytearray(MAGIC)
    for batch in batches:
        for frame, count in build_frames([encode_record(r) for r in batch], seq):
            out += frame
            seq += count
    return bytes(out)


def scan(data, piece=None, keep=True):
    scanner = Scanner(keep_payloads=keep)
    frames = []
    step = piece or max(1, len(data))
    for start in range(0, len(data), step):
        frames += scanner.feed(data[start:start + step])
    frames += scanner.finish()
    return frames, scanner.result


def records_of(frames):
    return [r for f in frames for r in decode_payload(f.payload, f.records)]


def test_encode_json_values_and_bytes():
    assert encode_record({"a": [1, 2.5, None, True]}) == '{"a":[1,2.5,null,true]}'
    assert type(encode_record(1)) is JsonText
    assert encode_record("é") == '"\\u00e9"'  # ASCII, so a lone surrogate cannot break a batch
    assert encode_record("\ud800") == '"\\ud800"'
    assert encode_record(b"\x00\xff") == b"\x00\xff"
    assert encode_record(bytearray(b"ab")) == b"ab" and type(encode_record(bytearray(b"ab"))) is bytes
    assert encode_record(memoryview(b"cd")) == b"cd"


@pytest.mark.parametrize("bad, error", [
    (object(), TypeError), ({"a": {1, 2}}, TypeError), ([b"bytes inside JSON"], TypeError),
    (float("nan"), ValueError), ({"x": float("inf")}, ValueError),
])
def test_encode_rejects_what_is_not_json_or_bytes(bad, error):
    with pytest.raises(error):
        encode_record(bad)


def test_encode_rejects_circular_and_huge_records(monkeypatch):
    circle = []
    circle.append(circle)
    with pytest.raises(ValueError, match="circular"):
        encode_record(circle)
    monkeypatch.setattr(journal, "MAX_RECORD", 10)
    with pytest.raises(ValueError, match="at most 10"):
        encode_record("x" * 20)
    with pytest.raises(ValueError, match="at most 10"):
        encode_record(b"x" * 11)


def test_a_batch_is_one_frame_with_mixed_kinds_in_order():
    batch = [{"n": 1}, b"raw", "text", b"", [1, 2], 3]
    frames = build_frames([encode_record(r) for r in batch], 0)
    assert len(frames) == 1 and frames[0][1] == len(batch)
    data = MAGIC + frames[0][0]
    found, result = scan(data)
    assert records_of(found) == batch
    assert result.records == len(batch) and result.end == len(data) and result.torn == 0


def test_build_frames_rejects_items_not_from_encode():
    for item in ({"not": "encoded"}, "a plain str is not JSON text", bytearray(b"x")):
        with pytest.raises(TypeError, match="what encode.. returns"):
            build_frames([encode_record(1), item], 0)
    assert build_frames([], 0) == []


def test_a_batch_over_max_frame_is_split_into_frames_numbered_on(monkeypatch):
    monkeypatch.setattr(journal, "MAX_FRAME", 64)
    items = [encode_record("x" * 20) for _ in range(10)] + [b"y" * 30, b"z" * 30]
    frames = build_frames(items, 0)
    assert len(frames) > 2
    assert sum(count for _, count in frames) == len(items)
    assert all(len(frame) - journal.HEADER.size <= 64 for frame, _ in frames)
    found, _ = scan(MAGIC + b"".join(frame for frame, _ in frames))
    assert [f.seq for f in found] == [sum(c for _, c in frames[:i]) for i in range(len(frames))]
    assert len(records_of(found)) == len(items)


def test_scanning_in_pieces_of_any_size_finds_the_same():
    data = journal_bytes([[{"i": i}] * (i + 1) for i in range(30)] + [[b"\0" * 50]])
    whole_frames, whole = scan(data)
    for piece in (1, 7, 64, 1000):
        frames, result = scan(data, piece)
        assert result == whole
        assert frames == whole_frames
    assert whole.frames == 31 and whole.records == sum(range(1, 31)) + 1


def test_every_truncation_of_the_last_frame_is_a_torn_tail():
    good = journal_bytes([[{"a": 1}], [{"b": 2}, "x"]])
    last = journal_bytes([[{"c": 3}, b"bytes"]], seq=3)[len(MAGIC):]
    for cut in range(len(last)):
        frames, result = scan(good + last[:cut], piece=5)
        assert records_of(frames) == [{"a": 1}, {"b": 2}, "x"]
        assert result.end == len(good) and result.torn == cut and not result.corrupt


def test_a_zeroed_or_garbage_tail_is_torn_tail():
    good = journal_bytes([[1], [2]])
    for tail in (b"\0" * 5000, bytes(random.Random(1).randrange(256) for _ in range(3000))):
        frames, result = scan(good + tail, piece=512)
        assert records_of(frames) == [1, 2]
        assert result.torn == len(tail) and not result.corrupt


def test_a_bad_frame_followed_by_good_ones_is_corruption_with_the_records_lost():
    frames_ = [MAGIC] + [build_frames([encode_record({"i": i})], i)[0][0] for i in range(5)]
    damaged = bytearray(frames_[2])
    damaged[-2] ^= 0xFF  # a flipped bit in acknowledged data
    data = b"".join(frames_[:2]) + bytes(damaged) + b"".join(frames_[3:])
    for piece in (3, 1 << 20):
        found, result = scan(data, piece)
        assert records_of(found) == [{"i": 0}, {"i": 2}, {"i": 3}, {"i": 4}]
        start = len(MAGIC) + len(frames_[1])
        assert result.corrupt == ((start, start + len(damaged)),)
        assert result.records_lost == 1 and result.torn == 0


def test_a_good_crc_with_the_wrong_sequence_number_is_not_a_continuation():
    first = build_frames([encode_record("a")], 0)[0][0]
    stale = build_frames([encode_record("b")], 7)[0][0]  # a frame from somewhere else
    frames, result = scan(MAGIC + first + stale)
    assert records_of(frames) == ["a"] and result.torn == len(stale)


def test_a_header_claiming_a_huge_length_costs_no_more_than_the_file():
    good = journal_bytes([["ok"]])
    bogus = struct.pack("<IIQI", 0, journal.MAX_FRAME, 1, 1) + b"\1" * 100
    frames, result = scan(good + bogus, piece=16)
    assert records_of(frames) == ["ok"] and result.torn == len(bogus)


def test_new_and_foreign_files():
    for prefix in (b"", MAGIC[:3]):
        _, result = scan(prefix)
        assert result.new
    with pytest.raises(NotAJournal):
        scan(b"RLX")
    with pytest.raises(NotAJournal):
        scan(b"SQLite format 3\0" + b"\0" * 100)


def test_scanner_refuses_use_after_finish():
    scanner = Scanner()
    scanner.feed(MAGIC)
    scanner.finish()
    with pytest.raises(RuntimeError):
        scanner.feed(b"")
    with pytest.raises(RuntimeError):
        scanner.finish()


def test_a_frame_with_a_good_crc_but_a_bad_payload_is_reported():
    for payload, count in ((b"\x01\x03\x00\x00\x00[1]", 2), (b"\x09\x01\x00\x00\x00x", 1),
                           (b"\x01\x05\x00\x00\x00[1,", 1), (b"\x01\x02\x00\x00\x00[]", 1)):
        frame = make_frame([payload], count, 0)
        (found,), _ = scan(MAGIC + frame)
        with pytest.raises(JournalCorrupt):
            decode_payload(found.payload, found.records)


def test_the_crc_covers_the_header():
    frame = bytearray(build_frames([encode_record("x")], 0)[0][0])
    crc, = struct.unpack_from("<I", frame)
    assert crc == zlib.crc32(bytes(frame[4:]))
