package main

import (
	"strings"
	"testing"
)

func TestCheckCongestionControlRejectsUnknownAlgorithm(t *testing.T) {
	err := checkCongestionControl("no-such-cc")
	if err == nil || !strings.Contains(err.Error(), "tcp_no-such-cc") {
		t.Fatalf("want an error naming tcp_no-such-cc, got %v", err)
	}
	if err := checkCongestionControl(""); err != nil {
		t.Fatalf("empty name must mean the default, got %v", err)
	}
	if err := checkCongestionControl("reno"); err != nil {
		t.Fatalf("reno is always built in: %v", err)
	}
}
