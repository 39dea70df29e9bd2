//go:build unix

package puppetca

import (
	"io/fs"
	"os"
	"syscall"
)

// chownLike gives a replaced file its predecessor's owner and group where allowed, so
// Puppet Server (another user) can still read it. Failure leaves ours, which the
// file's mode may still allow.
func chownLike(path string, info fs.FileInfo) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		_ = os.Chown(path, int(st.Uid), int(st.Gid))
	}
}
