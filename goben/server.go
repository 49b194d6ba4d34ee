package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const serverUsage = `Usage: goben server --port PORT [--bind IP] [--records FILE]

Sinks goben flows on TCP and UDP, both on PORT, until SIGTERM/SIGINT (then writes the records
of open UDP flows and exits 0). TCP flows get a 1-byte ack once all their bytes have arrived.
With --port 0 the OS picks a free port. When ready it prints one line on stdout:
  goben server listening tcp+udp ADDR:PORT

Flags:
`

const (
	tcpReadBuf     = 64 << 10
	udpSocketBuf   = 8 << 20
	headerDeadline = 10 * time.Second
)

type serverConfig struct {
	port    int
	bind    string
	records string
}

func serverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("goben server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg serverConfig
	fs.IntVar(&cfg.port, "port", -1, "TCP and UDP port to listen on (required; 0 = any free port)")
	fs.StringVar(&cfg.bind, "bind", "", "IP address to listen on (default: all addresses)")
	fs.StringVar(&cfg.records, "records", "", "CSV file for one record per UDP flow (optional)")
	if code, ok := parseFlags(fs, args, serverUsage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "server", fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if cfg.port < 0 || cfg.port > 65535 {
		return usageError(stderr, "server", "--port is required and must be in 0..65535")
	}
	if cfg.bind != "" && net.ParseIP(cfg.bind) == nil {
		return usageError(stderr, "server", fmt.Sprintf("--bind %q is not an IP address", cfg.bind))
	}
	if err := runServer(cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "goben server: %v\n", err)
		return 1
	}
	return 0
}

func usageError(stderr io.Writer, cmd, msg string) int {
	fmt.Fprintf(stderr, "goben %s: %s (see goben %s --help)\n", cmd, msg, cmd)
	return 2
}

// runServer listens on TCP and UDP until SIGTERM or SIGINT.
func runServer(cfg serverConfig, stdout io.Writer) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	return serve(cfg, stdout, sigs)
}

// serve runs the server until something arrives on stop, then records open UDP flows.
func serve(cfg serverConfig, stdout io.Writer, stop <-chan os.Signal) error {
	var rec *recordWriter
	if cfg.records != "" {
		var err error
		if rec, err = createRecords(cfg.records, serverRecordHeader); err != nil {
			return err
		}
	}
	ln, uc, err := listen(cfg.bind, cfg.port)
	if err != nil {
		if rec != nil {
			rec.close()
		}
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	host := cfg.bind
	if host == "" {
		host = "0.0.0.0"
	}
	// os.File writes are unbuffered: the line is out before the first flow can arrive.
	fmt.Fprintf(stdout, "goben server listening tcp+udp %s\n", net.JoinHostPort(host, strconv.Itoa(port)))

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); acceptLoop(ln) }()
	udp := newUDPSink(rec)
	go func() { defer wg.Done(); udp.loop(uc) }()

	<-stop
	ln.Close()
	uc.Close()
	wg.Wait()
	udp.flushAll()
	if rec != nil {
		return rec.close()
	}
	return nil
}

// listen opens the TCP listener and the UDP socket on one port. With port 0 the OS picks the
// TCP port; if that port is taken for UDP, another one is tried.
func listen(bind string, port int) (net.Listener, *net.UDPConn, error) {
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(bind), Port: p})
		if err == nil {
			_ = uc.SetReadBuffer(udpSocketBuf) // best effort: capped by net.core.rmem_max
			return ln, uc, nil
		}
		ln.Close()
		if port != 0 || attempt == 10 {
			return nil, nil, fmt.Errorf("udp port %d: %w", p, err)
		}
	}
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, tcpReadBuf); return &b }}

func acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. EMFILE): back off instead of spinning.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serveTCP(c)
	}
}

// serveTCP discards one flow's payload and acks when its announced size has arrived.
func serveTCP(c net.Conn) {
	defer c.Close()
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	_ = c.SetReadDeadline(time.Now().Add(headerDeadline))
	_, size, err := readTCPHeader(c, buf)
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var got int64
	acked := false
	for {
		n, err := c.Read(buf)
		got += int64(n)
		if !acked && size > 0 && got >= size {
			acked = true
			if _, werr := c.Write([]byte{ackByte}); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// udpFlow is the state of one UDP flow at the server.
type udpFlow struct {
	id      string
	src     string
	bytes   int64
	packets int64
	firstNs int64
	lastNs  int64
}

// udpSink counts UDP datagrams per flow. Flows are keyed by source address: every client flow
// sends from its own socket, so a source port names one flow at a time.
type udpSink struct {
	rec   *recordWriter
	flows map[netip.AddrPort]*udpFlow
}

func newUDPSink(rec *recordWriter) *udpSink {
	return &udpSink{rec: rec, flows: make(map[netip.AddrPort]*udpFlow)}
}

func (s *udpSink) loop(uc *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.datagram(buf[:n], from, time.Now().UnixNano())
	}
}

// datagram accounts one received datagram; it allocates only when a flow starts.
func (s *udpSink) datagram(b []byte, from netip.AddrPort, now int64) {
	d, ok := parseUDP(b)
	if !ok {
		return
	}
	f := s.flows[from]
	if f != nil && f.id != string(d.ID) { // source port reused by a new flow
		s.finish(from, f)
		f = nil
	}
	if f == nil {
		if d.Flags&flagControl != 0 {
			return // end marker of a flow we never saw
		}
		f = &udpFlow{id: string(d.ID), src: from.Addr().Unmap().String(), firstNs: now}
		s.flows[from] = f
	}
	if d.Flags&flagControl == 0 {
		f.bytes += int64(len(b))
		f.packets++
		f.lastNs = now
	}
	if d.Flags&flagLast != 0 {
		s.finish(from, f)
	}
}

func (s *udpSink) finish(key netip.AddrPort, f *udpFlow) {
	delete(s.flows, key)
	if s.rec != nil {
		s.rec.writeUDP(&udpFlowRecord{ID: f.id, Src: f.src, Proto: "udp", Received: f.bytes,
			Packets: f.packets, FirstNs: f.firstNs, LastNs: f.lastNs})
	}
}

// flushAll records every flow still open (at shutdown).
func (s *udpSink) flushAll() {
	for k, f := range s.flows {
		s.finish(k, f)
	}
}
