package logging

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

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
// the Ruby line format, and the buffer hook. The returned closer closes the log file.
func New(logFile, level string, size, tailSize int) (*logrus.Logger, *Buffer, io.Closer, error) {
	log := logrus.New()
	lvl := ParseLevel(level)
	log.SetLevel(lvl)
	log.SetFormatter(&Formatter{})
	var closer io.Closer = io.NopCloser(nil)
	switch strings.ToUpper(logFile) {
	case "STDOUT", "":
		log.SetOutput(os.Stdout)
	case "SYSLOG", "JOURNAL", "JOURNALD":
		// The journal captures stdout of a systemd service; plain lines are what it wants.
		log.SetOutput(os.Stdout)
	default:
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("log_file %s: %w", logFile, err)
		}
		log.SetOutput(f)
		closer = f
	}
	buf := NewBuffer(size, tailSize, lvl)
	log.AddHook(buf)
	return log, buf, closer, nil
}

// Formatter writes "2026-11-22T10:00:00 1f2e3d4c [I] message key=value", the Ruby
// proxy's default pattern "%d %.8X{request} [%.1l] %m" with logrus fields appended.
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
	b.WriteString(e.Message)
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if k != "request" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, e.Data[k])
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
