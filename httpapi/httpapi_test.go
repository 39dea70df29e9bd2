package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sirupsen/logrus"
)

// Error escapes control characters once, for the reply and the log alike: messages
// quote what clients sent.
func TestErrorEscapesControlCharacters(t *testing.T) {
	var out bytes.Buffer
	log := logrus.New()
	log.SetOutput(&out)
	log.SetFormatter(&logrus.TextFormatter{DisableQuote: true, DisableTimestamp: true})
	for status, msg := range map[int]string{
		http.StatusBadRequest:          "Invalid MAC address: zz\n2026-12-06T02:00:00 x [E] forged",
		http.StatusInternalServerError: "Cannot read a\x00b\r\x1b[2J",
	} {
		out.Reset()
		r := WithLogger(httptest.NewRequest(http.MethodGet, "/x", nil), logrus.NewEntry(log))
		w := httptest.NewRecorder()
		Error(w, r, status, msg)
		want := map[int]string{
			http.StatusBadRequest:          `Invalid MAC address: zz\n2026-12-06T02:00:00 x [E] forged`,
			http.StatusInternalServerError: `Cannot read a\x00b\r\x1b[2J`,
		}[status]
		if w.Code != status || w.Body.String() != want {
			t.Errorf("reply %d %q, want %d %q", w.Code, w.Body.String(), status, want)
		}
		if !bytes.Contains(out.Bytes(), []byte(want)) || bytes.Count(out.Bytes(), []byte("\n")) != 1 {
			t.Errorf("log %q, want one line with %q", out.String(), want)
		}
	}
}
