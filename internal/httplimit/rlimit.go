package httplimit

import (
	"syscall"
)

// Descriptors kept out of the connection budget for everything that is not an HTTP
// connection: the embedded DHCP, DNS and TFTP sockets, one socket and one file per
// TFTP transfer, journals, log files, the listeners themselves.
const reservedDescriptors = 512

// maxAutoConnections bounds the derived cap: past it memory, not descriptors, runs out
// first (each open connection holds buffers and a goroutine).
const maxAutoConnections = 10000

// ConnectionBudget is the connection cap derived from the open-files limit:
//
//	min(10000, (openFiles - 512) / 2), at least 16
//
// Half, because a connection can hold a second descriptor while it is served (the
// relays' connection to Foreman or Puppet, a boot file being fetched, a file being
// sent); 512 descriptors stay for the embedded servers' sockets and files.
func ConnectionBudget(openFiles uint64) int {
	if openFiles <= reservedDescriptors+32 {
		return 16
	}
	n := (openFiles - reservedDescriptors) / 2
	if n > maxAutoConnections {
		return maxAutoConnections
	}
	return int(n)
}

// FileLimit is RLIMIT_NOFILE before and after RaiseFileLimit.
type FileLimit struct {
	SoftBefore, Soft, Hard uint64
}

// RaiseFileLimit raises the soft open-files limit to the hard one, so the connection
// budget is as large as the administrator allows. (The Go runtime already does this
// at start on Linux; doing it here makes it explicit and reportable.)
func RaiseFileLimit() (FileLimit, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return FileLimit{}, err
	}
	out := FileLimit{SoftBefore: lim.Cur, Soft: lim.Cur, Hard: lim.Max}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return out, err
		}
		out.Soft = lim.Max
	}
	return out, nil
}
