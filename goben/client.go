package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const clientUsage = `Usage: goben client --schedule FILE --records FILE [--src-name NAME] [--duration-s X]
                    [--rate-mbps R] [--payload-bytes N]

Starts every flow of the schedule (CSV: flow_id,start_ms,dst_ip,dst_port,bytes,proto) at its
start time, each in its own goroutine, and appends one record per flow to the records file:
  flow_id,src,dst,proto,bytes_requested,bytes_sent,start_ns,end_ns,status
status is done, timeout (--duration-s expired), stopped (SIGTERM/SIGINT) or error:<reason>.
Exits 0 once every flow has ended (flow errors are recorded, not fatal), 1 on a bad schedule or
an I/O error, 2 on bad flags.

Flags:
`

const (
	tcpChunk        = 256 << 10       // largest TCP write
	connectWindow   = 2 * time.Second // retry refused connects this long
	connectAttempt  = 5 * time.Second // one connect may wait for SYN retransmissions
	maxUDPPayload   = 65507
	defaultPayload  = 1400
	udpRefusedReset = 1500 * time.Millisecond
)

// zeros is the payload of every TCP flow; it is only ever read, so all flows share it.
var zeros = make([]byte, tcpChunk)

// aLongTimeAgo is a deadline in the past: setting it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

type clientConfig struct {
	schedule     string
	records      string
	srcName      string
	durationS    float64
	rateMbps     float64
	payloadBytes int
}

func clientMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("goben client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg clientConfig
	fs.StringVar(&cfg.schedule, "schedule", "", "schedule CSV file (required)")
	fs.StringVar(&cfg.records, "records", "", "records CSV file to write (required; truncated)")
	fs.StringVar(&cfg.srcName, "src-name", "", "value of the src column (default: host name)")
	fs.Float64Var(&cfg.durationS, "duration-s", 0, "stop all flows after this many seconds (0 = no limit)")
	fs.Float64Var(&cfg.rateMbps, "rate-mbps", 0, "pace each flow to this rate in Mbit/s (0 = unpaced)")
	fs.IntVar(&cfg.payloadBytes, "payload-bytes", defaultPayload, "UDP datagram payload size in bytes, header included")
	if code, ok := parseFlags(fs, args, clientUsage, stdout, stderr); !ok {
		return code
	}
	bad := func(msg string) int { return usageError(stderr, "client", msg) }
	switch {
	case fs.NArg() > 0:
		return bad(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case cfg.schedule == "":
		return bad("--schedule is required")
	case cfg.records == "":
		return bad("--records is required")
	case !(cfg.durationS >= 0) || math.IsInf(cfg.durationS, 0):
		return bad(fmt.Sprintf("--duration-s %v must be a finite number >= 0", cfg.durationS))
	case !(cfg.rateMbps >= 0) || math.IsInf(cfg.rateMbps, 0):
		return bad(fmt.Sprintf("--rate-mbps %v must be a finite number >= 0", cfg.rateMbps))
	case cfg.payloadBytes < udpHeaderFixed+1 || cfg.payloadBytes > maxUDPPayload:
		return bad(fmt.Sprintf("--payload-bytes %d must be in %d..%d", cfg.payloadBytes, udpHeaderFixed+1, maxUDPPayload))
	}
	if cfg.srcName == "" {
		cfg.srcName, _ = os.Hostname()
		if checkFlowID(cfg.srcName) != nil {
			cfg.srcName = "unknown"
		}
	} else if err := checkFlowID(cfg.srcName); err != nil {
		return bad(fmt.Sprintf("--src-name %v", err))
	}
	if err := runClient(cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "goben client: %v\n", err)
		return 1
	}
	return 0
}

// client runs the flows of one schedule.
type client struct {
	cfg    clientConfig
	stop   *stopper
	rec    *recordWriter
	failed atomic.Int64
}

func runClient(cfg clientConfig, stderr io.Writer) error {
	flows, err := loadSchedule(cfg.schedule)
	if err != nil {
		return err
	}
	for i := range flows {
		fl := &flows[i]
		if fl.Proto == "udp" && udpHeaderLen(fl.ID) >= cfg.payloadBytes {
			return &scheduleError{File: cfg.schedule, Line: fl.Line, Field: "flow_id",
				Msg: fmt.Sprintf("%q is too long for --payload-bytes %d (UDP header is %d bytes)",
					fl.ID, cfg.payloadBytes, udpHeaderLen(fl.ID))}
		}
	}
	rec, err := createRecords(cfg.records, clientRecordHeader)
	if err != nil {
		return err
	}
	c := &client{cfg: cfg, stop: newStopper(), rec: rec}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			c.stop.stop(signalled)
		case <-c.stop.done():
		}
	}()
	t0 := time.Now()
	if cfg.durationS > 0 {
		t := time.AfterFunc(time.Duration(cfg.durationS*float64(time.Second)), func() { c.stop.stop(timedOut) })
		defer t.Stop()
	}

	var wg sync.WaitGroup
	launched := c.launch(flows, t0, &wg)
	if launched < len(flows) {
		// Stopped before these flows' start times: record them as never started.
		status := c.stop.why().status()
		for i := launched; i < len(flows); i++ {
			fl := &flows[i]
			rec.writeFlow(&flowRecord{ID: fl.ID, Src: cfg.srcName, Dst: fl.DstIP.String(), Proto: fl.Proto,
				Requested: fl.Bytes, Status: status})
		}
	}
	wg.Wait()
	c.stop.stop(running) // releases the signal goroutine; the reason stays the first one
	if n := c.failed.Load(); n > 0 {
		fmt.Fprintf(stderr, "goben client: %d of %d flows failed (see %s)\n", n, len(flows), cfg.records)
	}
	return rec.close()
}

// launch starts each flow at its start time and returns how many it started before a stop.
func (c *client) launch(flows []flowSpec, t0 time.Time, wg *sync.WaitGroup) int {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for i := range flows {
		fl := &flows[i]
		at := t0.Add(time.Duration(fl.StartMs * float64(time.Millisecond)))
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-c.stop.done():
				timer.Stop()
				return i
			}
		} else if c.stopped() {
			return i
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runFlow(fl)
		}()
	}
	return len(flows)
}

func (c *client) stopped() bool {
	select {
	case <-c.stop.done():
		return true
	default:
		return false
	}
}

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
	p := newPacer(c.cfg.rateMbps, chunkFor(c.cfg.rateMbps, tcpChunk))
	chunk := chunkFor(c.cfg.rateMbps, tcpChunk)
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
		d := net.Dialer{Timeout: connectAttempt}
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
