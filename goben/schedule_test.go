package main

import (
	"strings"
	"testing"
)

const hdr = "flow_id,start_ms,dst_ip,dst_port,bytes,proto\n"

func TestParseScheduleSortsAndParses(t *testing.T) {
	in := "\ufeff" + hdr +
		"b,20.5,10.0.0.2,5001,1000,tcp\n" +
		"a, 0 ,10.0.0.3,5001,0,udp\n" +
		"\n" + // blank lines are skipped
		"7,1e1,fd00::1,80,12,tcp\n"
	flows, err := parseSchedule(strings.NewReader(in), "s.csv")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range flows {
		ids = append(ids, f.ID)
	}
	if got := strings.Join(ids, " "); got != "a 7 b" {
		t.Fatalf("order %q, want by start_ms: a 7 b", got)
	}
	a := flows[0]
	if a.StartMs != 0 || a.DstIP.String() != "10.0.0.3" || a.DstPort != 5001 || a.Bytes != 0 || a.Proto != "udp" || a.Line != 3 {
		t.Fatalf("row a parsed as %+v", a)
	}
	if flows[1].StartMs != 10 || flows[1].DstIP.String() != "fd00::1" || flows[1].Line != 5 {
		t.Fatalf("row 7 parsed as %+v", flows[1])
	}
	if flows[2].StartMs != 20.5 || flows[2].Bytes != 1000 {
		t.Fatalf("row b parsed as %+v", flows[2])
	}
}

func TestParseScheduleHeaderOnly(t *testing.T) {
	flows, err := parseSchedule(strings.NewReader(hdr), "s.csv")
	if err != nil || len(flows) != 0 {
		t.Fatalf("got %v, %v; want no flows and no error", flows, err)
	}
}

func TestParseScheduleRejects(t *testing.T) {
	ok := "x,0,10.0.0.1,5001,10,tcp\n"
	cases := []struct {
		name, body, want string
	}{
		{"empty file", "", "line 1: empty file"},
		{"bad header", "id,start,dst,port,bytes,proto\n", "line 1: header is"},
		{"few fields", hdr + ok + "y,0,10.0.0.1\n", "line 3 (row 2): has 3 fields"},
		{"empty id", hdr + ",0,10.0.0.1,5001,10,tcp\n", "field flow_id: is empty"},
		{"id with space", hdr + "a b,0,10.0.0.1,5001,10,tcp\n", "field flow_id"},
		{"duplicate id", hdr + ok + ok, "line 3 (row 2) field flow_id: \"x\" already used on line 2"},
		{"negative start", hdr + "y,-1,10.0.0.1,5001,10,tcp\n", "field start_ms: \"-1\""},
		{"nan start", hdr + "y,NaN,10.0.0.1,5001,10,tcp\n", "field start_ms"},
		{"inf start", hdr + "y,inf,10.0.0.1,5001,10,tcp\n", "field start_ms"},
		{"bad ip", hdr + "y,0,10.0.0.300,5001,10,tcp\n", "field dst_ip: \"10.0.0.300\""},
		{"host name", hdr + "y,0,h2,5001,10,tcp\n", "field dst_ip"},
		{"port 0", hdr + "y,0,10.0.0.1,0,10,tcp\n", "field dst_port: \"0\""},
		{"port big", hdr + "y,0,10.0.0.1,65536,10,tcp\n", "field dst_port"},
		{"negative bytes", hdr + "y,0,10.0.0.1,5001,-5,tcp\n", "field bytes: \"-5\""},
		{"float bytes", hdr + "y,0,10.0.0.1,5001,1.5,tcp\n", "field bytes"},
		{"bad proto", hdr + ok + "y,0,10.0.0.1,5001,10,sctp\n", "line 3 (row 2) field proto: \"sctp\""},
		{"bad quoting", hdr + "\"y,0,10.0.0.1,5001,10,tcp\n", "schedule s.csv line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSchedule(strings.NewReader(tc.body), "s.csv")
			if err == nil {
				t.Fatalf("accepted %q", tc.body)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "schedule s.csv line ") {
				t.Fatalf("error %q does not name the file and line", err)
			}
		})
	}
}

func TestCheckFlowIDLength(t *testing.T) {
	if err := checkFlowID(strings.Repeat("a", maxFlowIDLen)); err != nil {
		t.Fatalf("id of %d bytes rejected: %v", maxFlowIDLen, err)
	}
	if err := checkFlowID(strings.Repeat("a", maxFlowIDLen+1)); err == nil {
		t.Fatal("over-long id accepted")
	}
}
