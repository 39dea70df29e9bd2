//go:build !linux

package embedded

import "syscall"

const reusePortSupported = false

func reusePort(network, address string, c syscall.RawConn) error { return nil }
