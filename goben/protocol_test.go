package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTCPHeaderRoundTrip(t *testing.T) {
	buf := make([]byte, 256)
	id, size, err := readTCPHeader(bytes.NewReader(tcpHeader("flow-7", 123456789)), buf)
	if err != nil || id != "flow-7" || size != 123456789 {
		t.Fatalf("got %q %d %v", id, size, err)
	}
	bad := tcpHeader("x", 1)
	bad[0] = 'H' // e.g. an HTTP client
	if _, _, err := readTCPHeader(bytes.NewReader(bad), buf); err == nil {
		t.Fatal("bad magic accepted")
	}
	if _, _, err := readTCPHeader(bytes.NewReader(tcpHeader("abc", 1)[:14]), buf); err == nil {
		t.Fatal("truncated header accepted")
	}
}

func TestUDPHeaderRoundTrip(t *testing.T) {
	b := make([]byte, 100)
	putUDPHeader(b, "u1", 5000)
	setUDPSeq(b, 42, flagLast)
	d, ok := parseUDP(b)
	if !ok || string(d.ID) != "u1" || d.Seq != 42 || d.Size != 5000 || d.Flags != flagLast {
		t.Fatalf("parsed %+v ok=%v", d, ok)
	}
	if _, ok := parseUDP(b[:udpHeaderLen("u1")-1]); ok {
		t.Fatal("datagram shorter than its header accepted")
	}
	b[0] = 0
	if _, ok := parseUDP(b); ok {
		t.Fatal("bad magic accepted")
	}
}

func udpPacket(id string, seq uint64, flags byte, n int) []byte {
	b := make([]byte, n)
	putUDPHeader(b, id, 0)
	setUDPSeq(b, seq, flags)
	return b
}

func TestUDPSinkRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srv.csv")
	rec, err := createRecords(path, serverRecordHeader)
	if err != nil {
		t.Fatal(err)
	}
	s := newUDPSink(rec)
	a := netip.MustParseAddrPort("10.0.0.1:4000")
	b := netip.MustParseAddrPort("[::ffff:10.0.0.2]:4001")
	s.datagram(udpPacket("fa", 0, 0, 1000), a, 100)
	s.datagram(udpPacket("fb", 0, 0, 500), b, 110)
	s.datagram([]byte("junk"), a, 115) // ignored
	s.datagram(udpPacket("fa", 1, flagLast, 300), a, 120)
	s.datagram(udpPacket("fc", 0, 0, 200), a, 130) // same port, new flow after fa ended
	s.datagram(udpPacket("fd", 0, 0, 200), b, 140) // port reused while fb is open: fb ends
	s.datagram(udpPacket("fd", 1, flagLast|flagControl, 40), b, 150)
	s.datagram(udpPacket("zz", 9, flagLast|flagControl, 40), netip.MustParseAddrPort("10.0.0.9:1"), 160)
	s.flushAll() // fc is still open
	rec.close()
	got, _ := os.ReadFile(path)
	want := serverRecordHeader +
		"fa,10.0.0.1,udp,1300,2,100,120\n" +
		"fb,10.0.0.2,udp,500,1,110,110\n" +
		"fd,10.0.0.2,udp,200,1,140,140\n" +
		"fc,10.0.0.1,udp,200,1,130,130\n"
	if string(got) != want {
		t.Fatalf("records\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(string(got), "zz") {
		t.Fatal("end marker of an unknown flow created a record")
	}
}

func TestUDPSinkDoesNotAllocatePerDatagram(t *testing.T) {
	s := newUDPSink(nil)
	from := netip.MustParseAddrPort("10.0.0.1:4000")
	pkt := udpPacket("flow", 0, 0, 1400)
	s.datagram(pkt, from, 1)
	if n := testing.AllocsPerRun(1000, func() { s.datagram(pkt, from, 2) }); n != 0 {
		t.Fatalf("%v allocations per datagram, want 0", n)
	}
}
