package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServer runs serve on 127.0.0.1 with an OS-chosen port; the returned func stops it and
// returns serve's error.
func startServer(t *testing.T, records string) (port string, stop func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	sig := make(chan os.Signal, 1)
	errc := make(chan error, 1)
	go func() { errc <- serve(serverConfig{port: 0, bind: "127.0.0.1", records: records}, pw, sig) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	port = strings.TrimSpace(line[strings.LastIndex(line, ":")+1:])
	return port, func() error { sig <- syscall.SIGTERM; return <-errc }
}

// readRecords returns the data lines of a records file keyed by flow id.
func readRecords(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")[1:] {
		f := strings.Split(line, ",")
		out[f[0]] = f
	}
	return out
}

func TestClientServerLoopback(t *testing.T) {
	dir := t.TempDir()
	port, stop := startServer(t, filepath.Join(dir, "srv.csv"))
	sched := filepath.Join(dir, "s.csv")
	rows := hdr +
		fmt.Sprintf("t1,0,127.0.0.1,%s,3000000,tcp\n", port) +
		fmt.Sprintf("t2,5,127.0.0.1,%s,1,tcp\n", port) +
		fmt.Sprintf("tinf,0,127.0.0.1,%s,0,tcp\n", port) +
		fmt.Sprintf("u1,0,127.0.0.1,%s,100000,udp\n", port) +
		fmt.Sprintf("uinf,0,127.0.0.1,%s,0,udp\n", port) +
		fmt.Sprintf("late,60000,127.0.0.1,%s,10,tcp\n", port)
	if err := os.WriteFile(sched, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := clientConfig{schedule: sched, records: filepath.Join(dir, "c.csv"), srcName: "h1",
		durationS: 0.4, rateMbps: 100, payloadBytes: 1000}
	var stderr strings.Builder
	if err := runClient(cfg, &stderr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the end marker of uinf arrive
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, cfg.records)
	want := map[string]string{"t1": "done", "t2": "done", "u1": "done", "tinf": "timeout", "uinf": "timeout", "late": "timeout"}
	for id, status := range want {
		r := recs[id]
		if r == nil || r[8] != status {
			t.Errorf("flow %s: record %v, want status %s", id, r, status)
		}
	}
	if got := recs["t1"][5]; got != "3000000" {
		t.Errorf("t1 sent %s bytes, want 3000000", got)
	}
	if r := recs["late"]; r[6] != "0" || r[7] != "0" {
		t.Errorf("never-started flow has times %s,%s; want 0,0", r[6], r[7])
	}
	srv := readRecords(t, filepath.Join(dir, "srv.csv"))
	if r := srv["u1"]; r == nil || r[3] != "100000" || r[4] != "100" {
		t.Errorf("server record of u1 is %v; want 100000 bytes in 100 packets", r)
	}
	if r := srv["uinf"]; r == nil || r[3] != recs["uinf"][5] {
		t.Errorf("server record of uinf is %v; want the %s bytes the client sent", r, recs["uinf"][5])
	}
	if stderr.Len() != 0 {
		t.Errorf("client stderr: %s", stderr.String())
	}
}
