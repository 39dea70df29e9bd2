// Package childproc is what the one-machine demos (make run, make run-ha) share about
// the programs they start: their output lines on stdout, prefixed with the program's
// name, and a graceful stop.
package childproc

import (
	"bufio"
	"fmt"
	"io"
	"sync"
)

// outMu keeps lines whole when several programs write at once.
var outMu sync.Mutex

// Say prints one line of the demo's own as "[name] line".
func Say(name, format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf("[%s] %s\n", name, fmt.Sprintf(format, args...))
}

// Prefixed returns a writer whose lines go to stdout as "[name] line" (a started
// program's Stdout or Stderr). Closing it ends the copy.
func Prefixed(name string) *io.PipeWriter {
	r, w := io.Pipe()
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			Say(name, "%s", sc.Text())
		}
		_, _ = io.Copy(io.Discard, r) // a line past the buffer: drain, never block the program
	}()
	return w
}
