package httplimit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// serve runs handler behind BodyLimit on a real server with s applied.
func serve(t *testing.T, s Settings, limit int64, counted *Refusals, handler http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: BodyLimit(limit, counted, nil)(handler)}
	s.Apply(srv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestBodyLimitAnswers(t *testing.T) {
	var counted Refusals
	base := serve(t, Defaults(), 64<<10, &counted, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s fields=%d a=%s", r.Method, len(r.Form), r.Form.Get("a"))
	})
	big := "a=" + strings.Repeat("x", 70000)
	for _, tc := range []struct {
		name    string
		body    io.Reader
		length  int64 // -1: chunked, so the limit is met while reading
		query   string
		status  int
		message string
	}{
		{"small form", strings.NewReader("a=1&b=2"), 7, "", 200, "POST fields=2 a=1"},
		{"declared too large", strings.NewReader(big), int64(len(big)), "", 413, "Request body too large: this route takes at most 65536 bytes"},
		{"found too large while reading", strings.NewReader(big), -1, "", 413, "Request body too large: this route takes at most 65536 bytes"},
		{"10000 fields", strings.NewReader(strings.Repeat("&", 9999)), -1, "", 200, "POST fields=0 a="},
		{"10001 fields", strings.NewReader(strings.Repeat("&", 10000)), -1, "", 400, "Too many fields in the form: 10001, at most 10000"},
		{"10001 query fields", nil, 0, strings.Repeat("&", 10000), 400, "Too many fields in the query string: 10001, at most 10000"},
		{"malformed escape keeps what parses", strings.NewReader("a=1&b=%zz"), -1, "", 200, "POST fields=1 a=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, base+"/?"+tc.query, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = tc.length
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(got) != tc.message {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, got, tc.status, tc.message)
			}
		})
	}
	if counted.tooLarge.Load() != 2 || counted.tooManyFields.Load() != 2 {
		t.Errorf("counted %d too large, %d too many fields; want 2 and 2", counted.tooLarge.Load(), counted.tooManyFields.Load())
	}
}

// A client that sends its body a byte at a time is cut off at RequestTimeout.
func TestSlowBodyIsCutOff(t *testing.T) {
	s := Defaults()
	s.RequestTimeout = 500 * time.Millisecond
	var counted Refusals
	base := serve(t, s, 4096, &counted, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "handled")
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n")
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte every 100 ms: never idle long, never done
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || string(body) != "Request body not received in time" {
		t.Errorf("got %d %q, want 408", resp.StatusCode, body)
	}
	// Generous for a loaded machine; the whole body would take 10 s.
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("cut off after %s, want about %s", d, s.RequestTimeout)
	}
	if counted.timeout.Load() != 1 {
		t.Errorf("timeouts counted: %d, want 1", counted.timeout.Load())
	}
}

// The request timeout bounds reading, not answering: a download that takes longer
// than it, after a request with or without a body, arrives whole.
func TestLongAnswerOutlivesRequestTimeout(t *testing.T) {
	s := Defaults()
	s.RequestTimeout = 200 * time.Millisecond
	base := serve(t, s, 4096, nil, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 6; i++ {
			if r.Context().Err() != nil {
				return
			}
			fmt.Fprintf(w, "chunk%d;", i)
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	want := "chunk0;chunk1;chunk2;chunk3;chunk4;chunk5;"
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var resp *http.Response
		var err error
		if method == http.MethodGet {
			resp, err = http.Get(base)
		} else {
			resp, err = http.PostForm(base, url.Values{"a": {"1"}})
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != want {
			t.Errorf("%s: got %q (%v), want %q", method, body, err, want)
		}
	}
}
