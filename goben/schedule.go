package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
)

// scheduleHeader is the exact header line a schedule file must start with.
var scheduleHeader = []string{"flow_id", "start_ms", "dst_ip", "dst_port", "bytes", "proto"}

// maxFlowIDLen bounds flow ids so that they fit in the UDP header (one length byte) with room to
// spare in a datagram.
const maxFlowIDLen = 128

// flowSpec is one row of the schedule.
type flowSpec struct {
	ID      string
	StartMs float64
	DstIP   net.IP
	DstPort int
	Bytes   int64 // 0 = unlimited
	Proto   string
	Line    int // line number in the schedule file, for messages
}

// scheduleError names the file, row and field of a bad schedule entry.
type scheduleError struct {
	File  string
	Line  int
	Row   int // data row number, 1-based; 0 for the header
	Field string
	Msg   string
}

func (e *scheduleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule %s line %d", e.File, e.Line)
	if e.Row > 0 {
		fmt.Fprintf(&b, " (row %d)", e.Row)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " field %s", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// loadSchedule reads and validates a schedule file; flows come back sorted by start time.
func loadSchedule(path string) ([]flowSpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	defer f.Close()
	return parseSchedule(f, path)
}

// parseSchedule validates every row, reporting the first bad one.
func parseSchedule(r io.Reader, name string) ([]flowSpec, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked below, with a better message
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &scheduleError{File: name, Line: 1, Msg: "empty file; want header " + strings.Join(scheduleHeader, ",")}
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	if !equalTrimmed(header, scheduleHeader) {
		return nil, &scheduleError{File: name, Line: 1, Msg: fmt.Sprintf("header is %q; want %s",
			strings.Join(header, ","), strings.Join(scheduleHeader, ","))}
	}
	var flows []flowSpec
	seen := make(map[string]int)
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		fail := func(field, format string, a ...any) error {
			return &scheduleError{File: name, Line: line, Row: row, Field: field, Msg: fmt.Sprintf(format, a...)}
		}
		if len(rec) != len(scheduleHeader) {
			return nil, fail("", "has %d fields; want %d (%s)", len(rec), len(scheduleHeader), strings.Join(scheduleHeader, ","))
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		fl := flowSpec{Line: line}
		fl.ID = rec[0]
		if err := checkFlowID(fl.ID); err != nil {
			return nil, fail("flow_id", "%v", err)
		}
		if prev, dup := seen[fl.ID]; dup {
			return nil, fail("flow_id", "%q already used on line %d; flow ids must be unique", fl.ID, prev)
		}
		seen[fl.ID] = line
		fl.StartMs, err = strconv.ParseFloat(rec[1], 64)
		if err != nil || math.IsNaN(fl.StartMs) || math.IsInf(fl.StartMs, 0) || fl.StartMs < 0 {
			return nil, fail("start_ms", "%q is not a finite number >= 0", rec[1])
		}
		fl.DstIP = net.ParseIP(rec[2])
		if fl.DstIP == nil {
			return nil, fail("dst_ip", "%q is not an IPv4 or IPv6 address", rec[2])
		}
		fl.DstPort, err = strconv.Atoi(rec[3])
		if err != nil || fl.DstPort < 1 || fl.DstPort > 65535 {
			return nil, fail("dst_port", "%q is not a port in 1..65535", rec[3])
		}
		fl.Bytes, err = strconv.ParseInt(rec[4], 10, 64)
		if err != nil || fl.Bytes < 0 {
			return nil, fail("bytes", "%q is not an integer >= 0 (0 = unlimited)", rec[4])
		}
		switch rec[5] {
		case "tcp", "udp":
			fl.Proto = rec[5]
		default:
			return nil, fail("proto", "%q is not tcp or udp", rec[5])
		}
		flows = append(flows, fl)
	}
	sort.SliceStable(flows, func(i, j int) bool { return flows[i].StartMs < flows[j].StartMs })
	return flows, nil
}

// checkFlowID keeps ids safe to write unquoted into CSV records and into the UDP header.
func checkFlowID(id string) error {
	if id == "" {
		return errors.New("is empty")
	}
	if len(id) > maxFlowIDLen {
		return fmt.Errorf("is %d bytes long; at most %d", len(id), maxFlowIDLen)
	}
	for _, c := range id {
		if c <= ' ' || c == ',' || c == '"' || c > '~' {
			return fmt.Errorf("%q has a character other than printable ASCII without spaces, commas and quotes", id)
		}
	}
	return nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &scheduleError{File: name, Line: pe.Line, Msg: pe.Err.Error()}
	}
	return fmt.Errorf("schedule %s: %w", name, err)
}

func equalTrimmed(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if strings.TrimSpace(got[i]) != want[i] {
			return false
		}
	}
	return true
}
