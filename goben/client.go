package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
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
	cc           string
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
	fs.StringVar(&cfg.cc, "cc", "", "TCP congestion control of every TCP flow, set per socket (default: the namespace's)")
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
	if err := checkCongestionControl(cfg.cc); err != nil {
		fmt.Fprintf(stderr, "goben client: %v\n", err)
		return 1
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
