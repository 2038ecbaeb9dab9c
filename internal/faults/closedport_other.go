//go:build !linux

package faults

import "net"

// closedPort returns a loopback address nothing listens on (it did a moment
// ago; the port is released for the scenario, so another process may take
// it), and a release function with nothing to do.
func closedPort() (addr string, release func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	return ln.Addr().String(), func() {}, ln.Close()
}
