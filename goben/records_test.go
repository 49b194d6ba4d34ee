package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRecordWriterLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.csv")
	w, err := createRecords(path, clientRecordHeader)
	if err != nil {
		t.Fatal(err)
	}
	w.writeFlow(&flowRecord{ID: "f1", Src: "h1", Dst: "10.0.0.2", Proto: "tcp", Requested: 1000,
		Sent: 1000, StartNs: 11, EndNs: 22, Status: "done"})
	// Lines are on disk before close: a crashed client keeps its finished flows.
	if b, _ := os.ReadFile(path); !strings.HasSuffix(string(b), "done\n") {
		t.Fatalf("record not written through before close: %q", b)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := clientRecordHeader + "f1,h1,10.0.0.2,tcp,1000,1000,11,22,done\n"
	if string(b) != want {
		t.Fatalf("file is %q, want %q", b, want)
	}
	if err := w.close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestRecordWriterServerFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.csv")
	w, err := createRecords(path, serverRecordHeader)
	if err != nil {
		t.Fatal(err)
	}
	w.writeUDP(&udpFlowRecord{ID: "u", Src: "10.0.0.1", Proto: "udp", Received: 2800, Packets: 2, FirstNs: 5, LastNs: 9})
	w.close()
	b, _ := os.ReadFile(path)
	if want := serverRecordHeader + "u,10.0.0.1,udp,2800,2,5,9\n"; string(b) != want {
		t.Fatalf("file is %q, want %q", b, want)
	}
}

func TestRecordWriterConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.csv")
	w, err := createRecords(path, clientRecordHeader)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				w.writeFlow(&flowRecord{ID: fmt.Sprintf("g%d-%d", g, i), Src: "h", Dst: "d", Proto: "udp", Status: "done"})
			}
		}(g)
	}
	wg.Wait()
	w.close()
	f, _ := os.Open(path)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if n > 0 && strings.Count(sc.Text(), ",") != 8 {
			t.Fatalf("interleaved line %q", sc.Text())
		}
		n++
	}
	if n != 1+8*200 {
		t.Fatalf("%d lines, want %d", n, 1+8*200)
	}
}

func TestErrorStatusHasNoCommas(t *testing.T) {
	got := errorStatus("dial tcp 10.0.0.1:1: connect: refused, \"really\"\nnow\x01é")
	if strings.ContainsAny(got, ",\"\n") || !strings.HasPrefix(got, "error:") {
		t.Fatalf("errorStatus gave %q", got)
	}
	if long := errorStatus(strings.Repeat("x", 500)); len(long) > 90 {
		t.Fatalf("reason not shortened: %d bytes", len(long))
	}
}
