"""The monitoring stream between the cache and the sidecar: g-stream "pfc" packets over UDP.

Modelled on XRootD's g-stream (the stream XCache's ``pfc`` plug-in reports file accesses on): a
binary header, then newline-separated JSON records.  All integers are big-endian.

    offset  size  field   meaning
    0       1     code    b"g"  (XrdXrootdMonHeader.code: a g-stream packet)
    1       1     pseq    packet sequence number, modulo 256
    2       2     plen    length of the whole packet in bytes, header included
    4       4     stod    start time of the sending cache (unix seconds): one per cache run
    8       4     tBeg    unix time of the first record in the packet (XrdXrootdMonGS)
    12      4     tEnd    unix time of the last record
    16      8     sID     provider in the top byte (b"C": the cache, "pfc"), server id below
    24      ...   text    one JSON object per line (UTF-8)

Record objects (``event`` names and byte counters as in XRootD's pfc records, plus ``seq``):

    {"event": "file_close", "seq": 17, "lfn": "/mc16_13TeV/mc16_13TeV.physics.Main/f42.root",
     "size": 2147483648, "b_hit": 0, "b_miss": 2147483648, "attach_t": 1.7e9, "detach_t": 1.7e9}
    {"event": "file_purge", "seq": 18, "lfn": "...", "size": 2147483648}

``seq`` numbers every record a cache run emits from 0, without gaps; the sidecar uses it to
drop duplicates (retransmissions) and count lost records.  ``size`` is the file's *logical*
size in bytes (the trace's kB × 1024); ``b_miss == 0`` means the access was a hit.  A
``file_purge`` reports a file the cache removed by itself (its own high watermark).

The sidecar answers every packet with an acknowledgement datagram, ``b"XCak"`` + the number of
records it has processed (uint64): the next ``seq`` it expects.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import struct
from dataclasses import dataclass

from iroko_gym.errors import ConfigError, IrokoError
from iroko_gym.validate import check_int, check_real

HEADER = struct.Struct("!cBHiiiq")
CODE = b"g"
PROVIDER_PFC = ord("C")
MAX_PACKET_BYTES = 65_000  # plen is 16 bits; stay under the UDP datagram limit
ACK = struct.Struct("!4sQ")
ACK_MAGIC = b"XCak"
EVENTS = ("file_close", "file_purge")
# an lfn is /component/component/...: no "..", no empty part, only these characters
_LFN_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]*$")
MAX_LFN_CHARS = 1024
MAX_SEQ = 2**40 - 1  # the sidecar's eviction score keep * 2**40 + seq must stay exact in a double


class MalformedPacket(IrokoError, ValueError):
    """A datagram that is not a valid monitoring packet; the sidecar counts it and skips it."""


@dataclass(frozen=True)
class AccessRecord:
    """One record: a file access (``file_close``) or a removal by the cache (``file_purge``)."""

    event: str
    seq: int
    lfn: str
    size: int  # logical bytes
    b_hit: int = 0
    b_miss: int = 0
    attach_t: float = 0.0
    detach_t: float = 0.0

    @property
    def hit(self) -> bool:
        return self.event == "file_close" and self.b_miss == 0

    @property
    def kb(self) -> int:
        """The size in kB as the offline trace has it (rounded up)."""
        return -(-self.size // 1024)

    def to_json(self) -> dict[str, object]:
        if self.event == "file_purge":
            return {"event": self.event, "seq": self.seq, "lfn": self.lfn, "size": self.size}
        return {"event": self.event, "seq": self.seq, "lfn": self.lfn, "size": self.size,
                "b_hit": self.b_hit, "b_miss": self.b_miss, "attach_t": self.attach_t,
                "detach_t": self.detach_t}


def check_lfn(lfn: object) -> str:
    """``lfn`` if it is a safe cache path (absolute, no ``..``), else :class:`MalformedPacket`."""
    if not isinstance(lfn, str) or not lfn.startswith("/") or len(lfn) > MAX_LFN_CHARS:
        raise MalformedPacket(f"lfn {lfn!r} must be an absolute path of at most {MAX_LFN_CHARS} characters")
    parts = lfn[1:].split("/")
    bad = [p for p in parts if not _LFN_PART.match(p) or p in (".", "..")]
    if bad:
        raise MalformedPacket(f"lfn {lfn!r} has the component {bad[0]!r}; components are [A-Za-z0-9_.+-], "
                              "not empty, '.' or '..'")
    return lfn


def encode_packet(records: list[AccessRecord], pseq: int, stod: int, server_id: int = 1) -> bytes:
    """One g-stream packet holding ``records`` (at least one)."""
    if not records:
        raise ValueError("a packet needs at least one record")
    text = "\n".join(json.dumps(r.to_json(), separators=(",", ":")) for r in records).encode()
    plen = HEADER.size + len(text)
    if plen > MAX_PACKET_BYTES:
        raise ValueError(f"{len(records)} records take {plen} bytes; send at most {MAX_PACKET_BYTES} per packet")
    t_beg = int(records[0].attach_t)
    t_end = int(records[-1].detach_t)
    sid = (PROVIDER_PFC << 56) | (server_id & ((1 << 56) - 1))
    return HEADER.pack(CODE, pseq % 256, plen, stod, t_beg, t_end, sid) + text


def decode_packet(data: bytes) -> list[AccessRecord]:
    """The records of one packet; any defect rejects the whole packet with :class:`MalformedPacket`."""
    if len(data) < HEADER.size:
        raise MalformedPacket(f"packet of {len(data)} bytes is shorter than the {HEADER.size}-byte header")
    code, _pseq, plen, _stod, _t_beg, _t_end, sid = HEADER.unpack_from(data)
    if code != CODE:
        raise MalformedPacket(f"packet code {code!r} is not {CODE!r} (g-stream)")
    if plen != len(data):
        raise MalformedPacket(f"header says {plen} bytes, datagram has {len(data)}")
    if (sid >> 56) & 0xFF != PROVIDER_PFC:
        raise MalformedPacket(f"provider byte {(sid >> 56) & 0xFF:#x} is not 'C' (the cache's pfc stream)")
    try:
        lines = data[HEADER.size:].decode("utf-8").split("\n")
        objects = [json.loads(line) for line in lines]
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPacket(f"records are not UTF-8 JSON lines: {exc}") from None
    return [_record(obj) for obj in objects]


def _record(obj: object) -> AccessRecord:
    if not isinstance(obj, dict):
        raise MalformedPacket(f"record {obj!r} is not a JSON object")
    event = obj.get("event")
    if event not in EVENTS:
        raise MalformedPacket(f"record event {event!r} is not one of {list(EVENTS)}")
    names = ("seq", "size", "b_hit", "b_miss") if event == "file_close" else ("seq", "size")
    counts = {name: check_int(f"record field {name}", obj.get(name), 1 if name == "size" else 0,
                              MAX_SEQ if name == "seq" else None, error=MalformedPacket) for name in names}
    times = {}
    if event == "file_close":
        times = {name: check_real(f"record field {name}", obj.get(name), error=MalformedPacket)
                 for name in ("attach_t", "detach_t")}
    return AccessRecord(event=event, lfn=check_lfn(obj.get("lfn")), **counts, **times)


def loopback_address(name: str, host: str) -> str:
    """``host`` as an IPv4 loopback address; the monitoring stream never leaves the machine."""
    try:
        address = socket.gethostbyname(host)
        loopback = ipaddress.ip_address(address).is_loopback
    except (OSError, ValueError, TypeError):
        loopback = False
    if not loopback:
        raise ConfigError(f"{name}={host!r}: the monitoring stream stays on loopback; use 127.0.0.1")
    return address


def encode_ack(next_seq: int) -> bytes:
    return ACK.pack(ACK_MAGIC, next_seq)


def decode_ack(data: bytes) -> int | None:
    """The sidecar's next expected ``seq``, or None for a datagram that is not an ack."""
    if len(data) != ACK.size:
        return None
    magic, next_seq = ACK.unpack(data)
    return next_seq if magic == ACK_MAGIC else None
