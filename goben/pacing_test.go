package main

import (
	"math"
	"testing"
	"time"
)

// fakeClock is a settable clock for the pacer.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func fakePacer(rateMbps float64, chunk int) (*pacer, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p := newPacer(rateMbps, chunk)
	p.now = clk.now
	p.last = clk.t
	return p, clk
}

func TestPacerUnpacedIsNil(t *testing.T) {
	if newPacer(0, 1000) != nil {
		t.Fatal("rate 0 must mean unpaced (nil pacer)")
	}
}

func TestPacerDelays(t *testing.T) {
	p, clk := fakePacer(8, 1000) // 1e6 bytes/s: 1000 bytes per ms
	if d := p.delay(1000); d != 0 {
		t.Fatalf("first chunk delayed %v, want 0", d)
	}
	if d := p.delay(1000); d != time.Millisecond {
		t.Fatalf("second chunk delayed %v, want 1ms", d)
	}
	clk.advance(time.Millisecond)
	if d := p.delay(500); d != 500*time.Microsecond {
		t.Fatalf("after 1ms, 500 more bytes delayed %v, want 0.5ms (the bucket caught up)", d)
	}
}

func TestPacerBurstIsCapped(t *testing.T) {
	p, clk := fakePacer(8, 500) // burst = max(5 ms * 1e6 B/s, 2 chunks) = 5000 bytes
	clk.advance(time.Hour)
	for i := 0; i < 10; i++ {
		if d := p.delay(500); d != 0 {
			t.Fatalf("write %d within the burst delayed %v", i, d)
		}
	}
	if d := p.delay(500); d != 500*time.Microsecond {
		t.Fatalf("write past the burst delayed %v, want 0.5ms", d)
	}
}

func TestPacerLongRunRate(t *testing.T) {
	// A sender that oversleeps every wait by 30% still gets the configured rate, because the
	// bucket credits the extra time.
	p, clk := fakePacer(100, 1400)
	start := clk.t
	var sent int
	for i := 0; i < 100000; i++ {
		d := p.delay(1400)
		clk.advance(d + d*3/10)
		sent += 1400
	}
	got := float64(sent) * 8 / clk.t.Sub(start).Seconds() / 1e6
	if math.Abs(got-100) > 1 {
		t.Fatalf("long-run rate %.2f Mbit/s, want 100 +- 1", got)
	}
}

func TestPacerWaitRealTime(t *testing.T) {
	p := newPacer(80, 10000) // 10 MB/s
	done := make(chan struct{})
	start := time.Now()
	for sent := 0; sent < 2_000_000; sent += 10000 {
		if !p.wait(10000, done) {
			t.Fatal("wait returned false without a stop")
		}
	}
	el := time.Since(start).Seconds()
	if el < 0.18 || el > 0.5 {
		t.Fatalf("2 MB at 10 MB/s took %.3f s, want about 0.2 s", el)
	}
}

func TestPacerWaitStops(t *testing.T) {
	p := newPacer(0.008, 1024) // 1000 bytes/s: the second KiB waits ~1 s
	p.wait(1024, nil)
	done := make(chan struct{})
	time.AfterFunc(20*time.Millisecond, func() { close(done) })
	start := time.Now()
	if p.wait(1024, done) {
		t.Fatal("wait returned true although stopped")
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Fatalf("stop took %v to interrupt the wait", el)
	}
}

func TestChunkFor(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want int
	}{{0, tcpChunk}, {1, 1024}, {100, 12500}, {100000, tcpChunk}} {
		if got := chunkFor(tc.rate, tcpChunk); got != tc.want {
			t.Errorf("chunkFor(%v) = %d, want %d", tc.rate, got, tc.want)
		}
	}
}
