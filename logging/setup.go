package logging

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// ParseLevel maps the Ruby log_level names to logrus levels.
func ParseLevel(name string) logrus.Level {
	switch strings.ToUpper(name) {
	case "DEBUG":
		return logrus.DebugLevel
	case "WARN":
		return logrus.WarnLevel
	case "ERROR":
		return logrus.ErrorLevel
	case "FATAL", "UNKNOWN":
		return logrus.FatalLevel
	}
	return logrus.InfoLevel
}

// New builds the process logger: output to log_file (STDOUT for the console), the level,
// the Ruby line format, and the buffer hook. The returned Output closes and reopens
// the log file.
func New(logFile, level string, size, tailSize int) (*logrus.Logger, *Buffer, *Output, error) {
	log := logrus.New()
	lvl := ParseLevel(level)
	log.SetLevel(lvl)
	log.SetFormatter(&Formatter{})
	out := &Output{}
	switch strings.ToUpper(logFile) {
	case "STDOUT", "":
		out.w = os.Stdout
	case "SYSLOG", "JOURNAL", "JOURNALD":
		// The journal captures stdout of a systemd service; plain lines are what it wants.
		out.w = os.Stdout
	default:
		out.path = logFile
		if err := out.Reopen(); err != nil {
			return nil, nil, nil, err
		}
	}
	log.SetOutput(out)
	buf := NewBuffer(size, tailSize, lvl)
	log.AddHook(buf)
	return log, buf, out, nil
}

// Output is where log lines go: stdout, or log_file, which Reopen opens again under
// its name after logrotate moved it away (SIGUSR1, the packaged unit's ExecReload).
type Output struct {
	path string // empty for stdout

	mu sync.Mutex
	w  io.Writer
	f  *os.File
}

// Write writes one formatted line.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(p)
}

// Reopen opens log_file again (creating it) and switches to it; the old file is
// closed. On stdout it does nothing.
func (o *Output) Reopen() error {
	if o.path == "" {
		return nil
	}
	f, err := os.OpenFile(o.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("log_file %s: %w", o.path, err)
	}
	o.mu.Lock()
	old := o.f
	o.f, o.w = f, f
	o.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes log_file.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	o.w = io.Discard
	err := o.f.Close()
	o.f = nil
	return err
}

// Formatter writes "2026-11-22T10:00:00 1f2e3d4c [I] message key=value", the Ruby
// proxy's default pattern "%d %.8X{request} [%.1l] %m" with logrus fields appended.
// Messages and fields are escaped (see Escape): one entry is always one line.
type Formatter struct{}

// Format implements logrus.Formatter.
func (Formatter) Format(e *logrus.Entry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(e.Time.Format("2006-01-02T15:04:05"))
	b.WriteByte(' ')
	if id, ok := e.Data["request"].(string); ok {
		b.WriteString(id)
	}
	b.WriteString(" [")
	b.WriteString(levelName(e.Level)[:1])
	b.WriteString("] ")
	b.WriteString(Escape(e.Message))
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if k != "request" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", Escape(k), Escape(fmt.Sprint(e.Data[k])))
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
