package childproc

import (
	"os"
	"syscall"
	"time"
)

// Stop asks p for a graceful stop (SIGTERM) and kills it if it has not exited after
// grace; exited is closed once p has been waited for. It returns when p is gone.
func Stop(p *os.Process, exited <-chan struct{}, grace time.Duration) {
	select {
	case <-exited:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = p.Kill()
		<-exited
	}
}
