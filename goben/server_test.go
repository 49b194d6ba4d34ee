package main

import (
	"net"
	"testing"
	"time"
)

// The ack is the client's completion time, so it must come only once every byte has arrived.
func TestServeTCPAcksOnlyAfterTheLastByte(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	go serveTCP(srv)
	if _, err := cli.Write(tcpHeader("f", 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write(make([]byte, 999)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 1)
	cli.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := cli.Read(ack); n != 0 {
		t.Fatal("ack before the last byte arrived")
	}
	cli.SetReadDeadline(time.Now().Add(2 * time.Second))
	done := make(chan error, 1)
	go func() { _, err := cli.Write([]byte{0}); done <- err }()
	if n, err := cli.Read(ack); n != 1 || ack[0] != ackByte {
		t.Fatalf("no ack after the last byte: n=%d err=%v", n, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServeTCPNeverAcksUnlimitedFlows(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	go serveTCP(srv)
	cli.Write(tcpHeader("f", 0))
	cli.Write(make([]byte, 100000))
	cli.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := cli.Read(make([]byte, 1)); n != 0 {
		t.Fatal("unlimited flow got an ack")
	}
}

func TestServeTCPDropsForeignClients(t *testing.T) {
	cli, srv := net.Pipe()
	go serveTCP(srv)
	cli.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	cli.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := cli.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("connection with a bad header not closed: %v", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
