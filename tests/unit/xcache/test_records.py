"""The monitoring packet format: round trips, and every defect rejected as MalformedPacket."""

from __future__ import annotations

import json

import pytest

from iroko_gym.xcache.records import (
    HEADER, AccessRecord, MalformedPacket, check_lfn, decode_ack, decode_packet, encode_ack, encode_packet,
)

LFN = "/mc16_13TeV/mc16_13TeV.physics.Main/f42.root"


def _close(seq: int = 0, hit: bool = False) -> AccessRecord:
    size = 5 * 1024
    return AccessRecord("file_close", seq, LFN, size, b_hit=size if hit else 0, b_miss=0 if hit else size,
                        attach_t=1.7e9, detach_t=1.7e9 + 0.5)


def _with_text(text: bytes) -> bytes:
    good = encode_packet([_close()], pseq=0, stod=1)
    header = bytearray(good[:HEADER.size])
    header[2:4] = (HEADER.size + len(text)).to_bytes(2, "big")
    return bytes(header) + text


def test_records_round_trip_several_per_packet() -> None:
    records = [_close(0), _close(1, hit=True), AccessRecord("file_purge", 2, LFN, 5 * 1024)]
    packet = encode_packet(records, pseq=300, stod=1_700_000_000)
    assert packet[:1] == b"g" and packet[1] == 300 % 256
    assert int.from_bytes(packet[2:4], "big") == len(packet)
    assert decode_packet(packet) == records
    assert [r.hit for r in records] == [False, True, False]
    assert records[0].kb == 5


def test_kb_rounds_up_like_the_pipeline() -> None:
    assert AccessRecord("file_close", 0, LFN, 1025).kb == 2


@pytest.mark.faults
@pytest.mark.parametrize("packet, words", [
    (b"g\x00", "shorter"),
    (b"x" + encode_packet([_close()], 0, 1)[1:], "code"),
    (encode_packet([_close()], 0, 1) + b"junk", "header says"),
    (encode_packet([_close()], 0, 1)[:16] + b"\x00" * 8 + encode_packet([_close()], 0, 1)[24:], "provider"),
    (_with_text(b"{not json"), "JSON"),
    (_with_text(b"\xff\xfe"), "UTF-8"),
    (_with_text(b"[1, 2]"), "not a JSON object"),
    (_with_text(json.dumps({"event": "file_open", "seq": 0}).encode()), "event"),
    (_with_text(json.dumps({**_close().to_json(), "seq": -1}).encode()), "seq"),
    (_with_text(json.dumps({**_close().to_json(), "seq": True}).encode()), "seq"),
    (_with_text(json.dumps({**_close().to_json(), "seq": 2**40}).encode()), "seq"),
    (_with_text(json.dumps({**_close().to_json(), "size": 0}).encode()), "size=0"),
    (_with_text(json.dumps({**_close().to_json(), "b_miss": "x"}).encode()), "b_miss"),
    (_with_text(json.dumps({**_close().to_json(), "attach_t": None}).encode()), "attach_t"),
    (_with_text(json.dumps({**_close().to_json(), "lfn": "/a/../../etc/passwd"}).encode()), ".."),
    (_with_text(json.dumps({**_close().to_json(), "lfn": "relative/path"}).encode()), "absolute"),
    (_with_text(json.dumps({k: v for k, v in _close().to_json().items() if k != "lfn"}).encode()), "lfn"),
])
def test_malformed_packets_are_rejected_whole(packet: bytes, words: str) -> None:
    with pytest.raises(MalformedPacket, match=words):
        decode_packet(packet)


def test_one_bad_record_rejects_the_packet() -> None:
    good = json.dumps(_close().to_json()).encode()
    with pytest.raises(MalformedPacket, match="event"):
        decode_packet(_with_text(good + b"\n" + json.dumps({"event": "?"}).encode()))


@pytest.mark.parametrize("lfn", ["/a//b", "/a/./b", "/", "/a b/c", "/" + "a" * 2000])
def test_unsafe_lfns_are_refused(lfn: str) -> None:
    with pytest.raises(MalformedPacket):
        check_lfn(lfn)


def test_acks() -> None:
    assert decode_ack(encode_ack(12345)) == 12345
    assert decode_ack(b"XCak") is None
    assert decode_ack(b"nope" + bytes(8)) is None


def test_packet_limits() -> None:
    with pytest.raises(ValueError, match="at least one"):
        encode_packet([], 0, 0)
    with pytest.raises(ValueError, match="per packet"):
        encode_packet([_close(i) for i in range(1000)], 0, 0)
