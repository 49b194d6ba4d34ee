package main

import (
	"context"
	"sync"
	"sync/atomic"
)

// stopReason says why a run ended early; it becomes the status of unfinished flows.
type stopReason int32

const (
	running   stopReason = iota
	timedOut             // --duration-s expired
	signalled            // SIGTERM or SIGINT
)

func (r stopReason) status() string {
	switch r {
	case timedOut:
		return "timeout"
	case signalled:
		return "stopped"
	}
	return "running"
}

// stopper is a context that remembers the first reason it was cancelled for (Go 1.19 has no
// context.WithCancelCause).
type stopper struct {
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	reason atomic.Int32
}

func newStopper() *stopper {
	ctx, cancel := context.WithCancel(context.Background())
	return &stopper{ctx: ctx, cancel: cancel}
}

// stop cancels the run; only the first reason is kept.
func (s *stopper) stop(r stopReason) {
	s.once.Do(func() {
		s.reason.Store(int32(r))
		s.cancel()
	})
}

func (s *stopper) done() <-chan struct{} { return s.ctx.Done() }

// why returns the reason of the stop, or running.
func (s *stopper) why() stopReason { return stopReason(s.reason.Load()) }
