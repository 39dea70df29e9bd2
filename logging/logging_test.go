package logging

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestFormatterIsTheRubyPattern(t *testing.T) {
	e := &logrus.Entry{Time: time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC), Level: logrus.WarnLevel,
		Message: "Couldn't find settings file", Data: logrus.Fields{"request": "1f2e3d4c", "module": "dhcp"}}
	out, err := Formatter{}.Format(e)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "2026-11-22T10:00:05 1f2e3d4c [W] Couldn't find settings file module=dhcp\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestHookBuffersAtOrAboveTheLevelWithRequestIDAndBacktrace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "proxy.log")
	log, buf, closer, err := New(path, "warn", 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	log.Info("not buffered, below WARN")
	log.WithField("request", "abcd1234").Warn("careful")
	log.WithError(errors.New("boom")).Error("failed")
	entries := buf.Since(0)
	if len(entries) != 2 {
		t.Fatalf("entries = %+v", entries)
	}
	if e := entries[0]; e.Level != "WARN" || e.RequestID != "abcd1234" || e.Message != "careful" || e.Timestamp <= 0 {
		t.Errorf("warn entry = %+v", e)
	}
	if e := entries[1]; e.Level != "ERROR" || e.Backtrace != "boom" {
		t.Errorf("error entry = %+v", e)
	}
	written, _ := os.ReadFile(path)
	if !strings.Contains(string(written), "abcd1234 [W] careful") || strings.Contains(string(written), "below WARN") {
		t.Errorf("log file:\n%s", written)
	}
}

func TestErrorsEvictedFromMainRingMoveToTail(t *testing.T) {
	b := NewBuffer(2, 1, logrus.InfoLevel)
	b.Add(Entry{Timestamp: 1, Level: "ERROR", Message: "e1"})
	b.Add(Entry{Timestamp: 2, Level: "FATAL", Message: "f2"})
	b.Add(Entry{Timestamp: 3, Level: "INFO", Message: "i3"})
	b.Add(Entry{Timestamp: 4, Level: "INFO", Message: "i4"})
	var msgs []string
	for _, e := range b.Since(0) {
		msgs = append(msgs, e.Message)
	}
	// e1 was pushed out of the one-entry tail by f2.
	if strings.Join(msgs, ",") != "f2,i3,i4" {
		t.Fatalf("got %v", msgs)
	}
	if got := b.Since(3.5); len(got) != 1 || got[0].Message != "i4" {
		t.Fatalf("since 3.5: %+v", got)
	}
}

func TestZeroCapacityBuffersKeepNothing(t *testing.T) {
	b := NewBuffer(0, 0, logrus.InfoLevel)
	b.Add(Entry{Timestamp: 1, Level: "ERROR", Message: "x"})
	if got := b.Since(0); len(got) != 0 {
		t.Fatalf("got %+v", got)
	}
}

func TestStdoutAndLevels(t *testing.T) {
	log, _, output, err := New("STDOUT", "DEBUG", 1, 1)
	if err != nil || output.w != os.Stdout || log.Level != logrus.DebugLevel {
		t.Fatalf("stdout logger: %v %v", err, log.Level)
	}
	if _, _, _, err := New("/nonexistent-dir/x.log", "INFO", 1, 1); err == nil || !strings.Contains(err.Error(), "log_file /nonexistent-dir/x.log") {
		t.Fatalf("unwritable log_file: %v", err)
	}
	for name, want := range map[string]logrus.Level{"ERROR": logrus.ErrorLevel, "fatal": logrus.FatalLevel, "bogus": logrus.InfoLevel} {
		if got := ParseLevel(name); got != want {
			t.Errorf("%s: %v", name, got)
		}
	}
	var out bytes.Buffer
	log.SetOutput(&out)
	log.Debug("shown at DEBUG")
	if !strings.Contains(out.String(), "[D] shown at DEBUG") {
		t.Errorf("debug line: %q", out.String())
	}
}

// After logrotate moves log_file away, Reopen starts a new file under the name and
// the moved file keeps what was written before.
func TestReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "proxy.log")
	log, _, out, err := New(path, "INFO", 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	log.Info("before rotation")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	log.Info("still to the moved file")
	if err := out.Reopen(); err != nil {
		t.Fatal(err)
	}
	log.Info("after reopen")
	old, err := os.ReadFile(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(old), "before rotation") || !strings.Contains(string(old), "still to the moved file") || strings.Contains(string(old), "after reopen") {
		t.Errorf("moved file:\n%s", old)
	}
	if !strings.Contains(string(cur), "after reopen") || strings.Contains(string(cur), "before rotation") {
		t.Errorf("new file:\n%s", cur)
	}
}
