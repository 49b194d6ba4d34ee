package main

import (
	"fmt"
	"syscall"
)

// congestionControl returns a dialer hook that sets TCP_CONGESTION on each socket before it
// connects, so the algorithm is chosen per flow and no system-wide sysctl is touched. Root
// (CAP_NET_ADMIN) may pick any algorithm the kernel has, not only the "allowed" ones.
func congestionControl(name string) func(network, address string, rc syscall.RawConn) error {
	if name == "" {
		return nil
	}
	return func(network, address string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("congestion control %q: %v", name, serr)
		}
		return nil
	}
}

// checkCongestionControl fails early, before any flow starts, if name cannot be set.
func checkCongestionControl(name string) error {
	if name == "" {
		return nil
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptString(fd, syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, name); err != nil {
		return fmt.Errorf("--cc %q cannot be set on a TCP socket (%v): the kernel lacks tcp_%s or the process lacks CAP_NET_ADMIN", name, err, name)
	}
	return nil
}
