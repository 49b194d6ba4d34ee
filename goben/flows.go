package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// runFlow runs one flow and writes its record.
func (c *client) runFlow(fl *flowSpec) {
	r := flowRecord{ID: fl.ID, Src: c.cfg.srcName, Dst: fl.DstIP.String(), Proto: fl.Proto,
		Requested: fl.Bytes, StartNs: time.Now().UnixNano()}
	addr := net.JoinHostPort(fl.DstIP.String(), strconv.Itoa(fl.DstPort))
	var err error
	if fl.Proto == "tcp" {
		err = c.tcpFlow(fl, addr, &r)
	} else {
		err = c.udpFlow(fl, addr, &r)
	}
	r.EndNs = time.Now().UnixNano()
	switch {
	case err == nil:
		r.Status = "done"
	case c.stop.why() != running:
		r.Status = c.stop.why().status()
	default:
		r.Status = errorStatus(reason(err))
		c.failed.Add(1)
	}
	c.rec.writeFlow(&r)
}

// errStopped marks a flow interrupted by the run's stop (timeout or signal).
var errStopped = errors.New("stopped")

// watch makes blocked I/O on conn return once the run stops; release ends the watch and
// returns only when the watcher can no longer touch conn's deadlines.
func (c *client) watch(conn net.Conn) (release func()) {
	fin := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-c.stop.done():
			_ = conn.SetDeadline(aLongTimeAgo)
		case <-fin:
		}
	}()
	return func() { close(fin); <-exited }
}

// tcpFlow connects, sends the header and payload and waits for the server's ack.
func (c *client) tcpFlow(fl *flowSpec, addr string, r *flowRecord) error {
	conn, err := c.dial(addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	release := c.watch(conn)
	defer release()

	if _, err := conn.Write(tcpHeader(fl.ID, fl.Bytes)); err != nil {
		return err
	}
	chunk := chunkFor(c.cfg.rateMbps, tcpChunk)
	p := newPacer(c.cfg.rateMbps, chunk)
	unlimited := fl.Bytes == 0
	left := fl.Bytes
	for unlimited || left > 0 {
		n := chunk
		if !unlimited && left < int64(n) {
			n = int(left)
		}
		if p != nil && !p.wait(n, c.stop.done()) {
			return errStopped
		}
		w, err := conn.Write(zeros[:n])
		r.Sent += int64(w)
		left -= int64(w)
		if err != nil {
			return err
		}
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("server closed before ack")
		}
		return err
	}
	if ack[0] != ackByte {
		return fmt.Errorf("bad ack byte 0x%02x", ack[0])
	}
	return nil
}

// dial connects, retrying failed attempts with backoff for connectWindow (the server may not be
// up yet).
func (c *client) dial(addr string) (net.Conn, error) {
	start := time.Now()
	backoff := 10 * time.Millisecond
	for {
		d := net.Dialer{Timeout: connectAttempt, Control: congestionControl(c.cfg.cc)}
		conn, err := d.DialContext(c.stop.ctx, "tcp", addr)
		if err == nil {
			return conn, nil
		}
		if c.stopped() || time.Since(start)+backoff > connectWindow {
			return nil, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-c.stop.done():
			t.Stop()
			return nil, errStopped
		}
		if backoff *= 2; backoff > 200*time.Millisecond {
			backoff = 200 * time.Millisecond
		}
	}
}

// udpFlow sends the flow's datagrams on a connected UDP socket of its own.
func (c *client) udpFlow(fl *flowSpec, addr string, r *flowRecord) error {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	release := c.watch(conn)

	size := c.cfg.payloadBytes
	hdr := udpHeaderLen(fl.ID)
	buf := make([]byte, size) // zero padding after the header
	putUDPHeader(buf, fl.ID, fl.Bytes)
	p := newPacer(c.cfg.rateMbps, size)
	unlimited := fl.Bytes == 0
	left := fl.Bytes
	var seq uint64
	var refusedSince, lastRefused time.Time
	for {
		n, flags := size, byte(0)
		if !unlimited && left <= int64(size) {
			n, flags = int(left), flagLast
			if n < hdr {
				n = hdr
			}
		}
		if c.stopped() || (p != nil && !p.wait(n, c.stop.done())) {
			break
		}
		setUDPSeq(buf, seq, flags)
		_, err := conn.Write(buf[:n])
		if err != nil {
			if c.stopped() {
				break // a blocked send interrupted by the stop: still send the end marker
			}
			if errors.Is(err, syscall.ENOBUFS) {
				// A full device queue (seen with some qdiscs): back off, as a full socket buffer would.
				time.Sleep(100 * time.Microsecond)
				continue
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				release()
				return err
			}
			// An ICMP port unreachable for an earlier datagram (no server yet): this one was not
			// sent. Retry it, and give up when refusals go on for connectWindow.
			now := time.Now()
			if refusedSince.IsZero() || now.Sub(lastRefused) > udpRefusedReset {
				refusedSince = now
			}
			lastRefused = now
			if now.Sub(refusedSince) > connectWindow {
				release()
				return errors.New("port unreachable")
			}
			time.Sleep(time.Millisecond)
			continue
		}
		r.Sent += int64(n)
		left -= int64(n)
		seq++
		if flags&flagLast != 0 {
			release()
			return nil
		}
	}
	// Stopped early: tell the server the flow is over (best effort) so its record is closed.
	release()
	_ = conn.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	setUDPSeq(buf, seq, flagLast|flagControl)
	_, _ = conn.Write(buf[:hdr])
	return errStopped
}

// reason is a short, stable description of a flow error for the status column.
func reason(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &errno):
		return errno.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}
