//go:build linux

package faults

import (
	"fmt"
	"sync"
	"syscall"
)

// closedPort returns a loopback address that refuses connections, and a
// function that frees it. The port is held by a socket that is bound but
// not listening: the kernel answers connections to it with a reset
// ("connection refused"), and no other process (a parallel scenario's
// server) can take the port before release. Close-on-exec, so that the
// processes the scenario starts do not hold it after release.
func closedPort() (addr string, release func(), err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return "", nil, err
	}
	sa, err := syscall.Getsockname(fd)
	in4, ok := sa.(*syscall.SockaddrInet4)
	if err != nil || !ok {
		syscall.Close(fd)
		return "", nil, fmt.Errorf("reading the bound port: %v", err)
	}
	var once sync.Once
	return fmt.Sprintf("127.0.0.1:%d", in4.Port), func() { once.Do(func() { syscall.Close(fd) }) }, nil
}
