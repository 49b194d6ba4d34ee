package main

// Wire formats. All integers are big-endian.
//
// TCP: the client opens one connection per flow and sends
//
//	magic "GBT1" (4) | flow size u64 (0 = unlimited) | id length u8 | id bytes
//
// followed by the payload. When flow-size payload bytes have arrived the server writes one byte
// (ackByte) so that the client can time completion at delivery. Unlimited flows end when the
// client closes the connection.
//
// UDP: every datagram starts with
//
//	magic "GBU1" (4) | flags u8 | id length u8 | reserved u16 | seq u64 | flow size u64 | id bytes
//
// and is padded to --payload-bytes. flagLast marks the last datagram of a flow; a datagram with
// flagControl carries no payload that counts (the client sends one with flagLast|flagControl when
// it stops a flow early so that the server can close its record).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	tcpMagic = 0x47425431 // "GBT1"
	udpMagic = 0x47425531 // "GBU1"

	tcpHeaderFixed = 4 + 8 + 1
	udpHeaderFixed = 4 + 1 + 1 + 2 + 8 + 8

	flagLast    = 0x01
	flagControl = 0x02

	ackByte = 'A'
)

// tcpHeader encodes the TCP flow header.
func tcpHeader(id string, size int64) []byte {
	b := make([]byte, tcpHeaderFixed+len(id))
	binary.BigEndian.PutUint32(b[0:4], tcpMagic)
	binary.BigEndian.PutUint64(b[4:12], uint64(size))
	b[12] = byte(len(id))
	copy(b[13:], id)
	return b
}

// readTCPHeader reads the TCP flow header; buf must hold at least 255 bytes and is reused.
func readTCPHeader(r io.Reader, buf []byte) (id string, size int64, err error) {
	if _, err = io.ReadFull(r, buf[:tcpHeaderFixed]); err != nil {
		return "", 0, err
	}
	if binary.BigEndian.Uint32(buf[0:4]) != tcpMagic {
		return "", 0, errors.New("bad magic: not a goben client")
	}
	s := binary.BigEndian.Uint64(buf[4:12])
	if s > 1<<62 {
		return "", 0, fmt.Errorf("flow size %d out of range", s)
	}
	n := int(buf[12])
	if _, err = io.ReadFull(r, buf[:n]); err != nil {
		return "", 0, err
	}
	return string(buf[:n]), int64(s), nil
}

// udpHeaderLen is the size of the header of datagrams of flow id.
func udpHeaderLen(id string) int { return udpHeaderFixed + len(id) }

// putUDPHeader writes the whole header (including the id) into b.
func putUDPHeader(b []byte, id string, size int64) {
	binary.BigEndian.PutUint32(b[0:4], udpMagic)
	b[4] = 0
	b[5] = byte(len(id))
	b[6], b[7] = 0, 0
	binary.BigEndian.PutUint64(b[16:24], uint64(size))
	copy(b[24:], id)
}

// setUDPSeq updates the per-datagram fields of a header written by putUDPHeader.
func setUDPSeq(b []byte, seq uint64, flags byte) {
	b[4] = flags
	binary.BigEndian.PutUint64(b[8:16], seq)
}

// udpDatagram is a parsed UDP header; ID aliases the receive buffer.
type udpDatagram struct {
	Flags byte
	Seq   uint64
	Size  int64
	ID    []byte
}

// parseUDP parses a datagram header without allocating.
func parseUDP(b []byte) (d udpDatagram, ok bool) {
	if len(b) < udpHeaderFixed || binary.BigEndian.Uint32(b[0:4]) != udpMagic {
		return d, false
	}
	n := int(b[5])
	if len(b) < udpHeaderFixed+n {
		return d, false
	}
	d.Flags = b[4]
	d.Seq = binary.BigEndian.Uint64(b[8:16])
	d.Size = int64(binary.BigEndian.Uint64(b[16:24]))
	d.ID = b[24 : 24+n]
	return d, true
}
