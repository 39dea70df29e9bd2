package logs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/logs"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/logging"
)

type reply struct {
	Info struct {
		Size          int               `json:"size"`
		TailSize      int               `json:"tail_size"`
		Level         *string           `json:"level"`
		LevelTail     int               `json:"level_tail"`
		FailedModules map[string]string `json:"failed_modules"`
	} `json:"info"`
	Logs []logging.Entry `json:"logs"`
}

func TestLogsFiltersByTimestampAndShowsFailures(t *testing.T) {
	buf := logging.NewBuffer(3, 2, logrus.InfoLevel)
	now := float64(time.Now().UnixNano()) / 1e9
	buf.Add(logging.Entry{Timestamp: now - 10, Level: "ERROR", Message: "old error"})
	buf.Add(logging.Entry{Timestamp: now - 9, Level: "INFO", Message: "old info"})
	buf.Add(logging.Entry{Timestamp: now - 1, Level: "INFO", Message: "a"})
	buf.Add(logging.Entry{Timestamp: now, Level: "WARN", Message: "b", RequestID: "abcd1234"})
	buf.Add(logging.Entry{Timestamp: now, Level: "INFO", Message: "c"})
	buf.RecordFailure("dhcp", "Disabling all modules in the group ['dhcp', 'dhcp_embedded'] due to a failure in one of them: x")
	p := proxytest.Start(t, "", nil, logs.New(buf))

	r := p.Do(t, "GET", "/logs/", nil)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var got reply
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Info.Size != 3 || got.Info.TailSize != 2 || got.Info.Level != nil || got.Info.LevelTail != 3 {
		t.Errorf("info = %+v", got.Info)
	}
	if !strings.Contains(got.Info.FailedModules["dhcp"], "group ['dhcp', 'dhcp_embedded']") {
		t.Errorf("failed_modules = %v", got.Info.FailedModules)
	}
	var msgs []string
	for _, e := range got.Logs {
		msgs = append(msgs, e.Message)
	}
	// The evicted ERROR moved to the tail and comes first; the evicted INFO is gone.
	if strings.Join(msgs, ",") != "old error,a,b,c" {
		t.Errorf("logs = %v", msgs)
	}
	if !strings.Contains(r.Body, `"request_id":"abcd1234"`) || strings.Contains(r.Body, `"backtrace"`) {
		t.Errorf("entry fields: %s", r.Body)
	}

	r = p.Do(t, "GET", "/logs?from_timestamp="+strings.TrimRight(strings.TrimRight(jsonFloat(now-0.5), "0"), "."), nil)
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Logs) != 2 {
		t.Errorf("from_timestamp filter: %d entries, want 2: %s", len(got.Logs), r.Body)
	}
	r = p.Do(t, "GET", "/logs?from_timestamp=garbage", nil)
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil || len(got.Logs) != 4 {
		t.Errorf("invalid from_timestamp must mean everything: %v %d", err, len(got.Logs))
	}
}

func jsonFloat(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}
