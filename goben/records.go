package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Record file headers (see docs/goben.md).
const (
	clientRecordHeader = "flow_id,src,dst,proto,bytes_requested,bytes_sent,start_ns,end_ns,status\n"
	serverRecordHeader = "flow_id,src,proto,bytes_received,packets,first_ns,last_ns\n"
)

// flowRecord is one line of the client records file. Times are wall-clock UNIX nanoseconds;
// 0 means "never happened" (a flow stopped before its start time).
type flowRecord struct {
	ID        string
	Src       string
	Dst       string
	Proto     string
	Requested int64
	Sent      int64
	StartNs   int64
	EndNs     int64
	Status    string
}

// udpFlowRecord is one line of the server records file.
type udpFlowRecord struct {
	ID       string
	Src      string
	Proto    string
	Received int64
	Packets  int64
	FirstNs  int64
	LastNs   int64
}

// recordWriter appends CSV lines to a file, one write(2) per line, so that a crash loses at
// most the line being written. It is safe for concurrent use.
type recordWriter struct {
	mu   sync.Mutex
	f    *os.File
	buf  []byte
	err  error // first write error, reported by close
	path string
}

// createRecords truncates path and writes header.
func createRecords(path, header string) (*recordWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	w := &recordWriter{f: f, path: path, buf: make([]byte, 0, 256)}
	if _, err := f.WriteString(header); err != nil {
		f.Close()
		return nil, fmt.Errorf("records %s: %w", path, err)
	}
	return w, nil
}

func (w *recordWriter) writeFlow(r *flowRecord) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf[:0]
	b = append(b, r.ID...)
	b = append(b, ',')
	b = append(b, r.Src...)
	b = append(b, ',')
	b = append(b, r.Dst...)
	b = append(b, ',')
	b = append(b, r.Proto...)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Requested, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Sent, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.StartNs, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.EndNs, 10)
	b = append(b, ',')
	b = append(b, r.Status...)
	b = append(b, '\n')
	w.put(b)
}

func (w *recordWriter) writeUDP(r *udpFlowRecord) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf[:0]
	b = append(b, r.ID...)
	b = append(b, ',')
	b = append(b, r.Src...)
	b = append(b, ',')
	b = append(b, r.Proto...)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Received, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Packets, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.FirstNs, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.LastNs, 10)
	b = append(b, '\n')
	w.put(b)
}

// put writes one line; the caller holds mu.
func (w *recordWriter) put(b []byte) {
	w.buf = b
	if w.err != nil || w.f == nil {
		return
	}
	if _, err := w.f.Write(b); err != nil {
		w.err = fmt.Errorf("records %s: %w", w.path, err)
	}
}

// close flushes to disk and reports the first write error.
func (w *recordWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.err
	}
	if err := w.f.Sync(); err != nil && w.err == nil {
		w.err = fmt.Errorf("records %s: %w", w.path, err)
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("records %s: %w", w.path, err)
	}
	w.f = nil
	return w.err
}

// errorStatus turns an error into "error:<reason>" with no commas, quotes or newlines.
func errorStatus(reason string) string {
	r := strings.Map(func(c rune) rune {
		switch {
		case c == ',' || c == '"' || c == '\n' || c == '\r':
			return ';'
		case c < ' ' || c > '~':
			return '?'
		}
		return c
	}, reason)
	if len(r) > 80 {
		r = r[:80]
	}
	return "error:" + r
}
