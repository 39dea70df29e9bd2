package tftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// fetcher downloads boot files in the background with the Ruby proxy's curl semantics:
// fail on HTTP errors, 3 retries 10 s apart, one hour at most, follow redirects, keep
// the remote mtime, download only when the remote file is newer than the local one.
type fetcher struct {
	ctx        context.Context
	log        *logrus.Entry
	client     *http.Client
	connect    time.Duration
	insecure   bool
	retries    int
	retryDelay time.Duration
	maxTime    time.Duration
	wg         sync.WaitGroup
}

func newFetcher(ctx context.Context, log *logrus.Entry, connectTimeout time.Duration, verifyCert bool) *fetcher {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: connectTimeout}).DialContext
	transport.TLSHandshakeTimeout = connectTimeout
	if !verifyCert {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // :verify_server_cert: false asks for it
	}
	return &fetcher{
		ctx: ctx, log: log, client: &http.Client{Transport: transport},
		connect: connectTimeout, insecure: !verifyCert,
		retries: 3, retryDelay: 10 * time.Second, maxTime: time.Hour,
	}
}

// start begins downloading src to rel unless another download of rel holds its lock
// (then it reports false and does nothing, as the Ruby proxy does).
func (ft *fetcher) start(st store, rel, src string) (bool, error) {
	return ft.background(st, rel, func() { _ = ft.run(st, rel, src) })
}

// background runs job while holding the lock file .<name>.lock beside rel, which
// excludes other jobs for rel in this process and in other proxies sharing the tree;
// it reports false and runs nothing when someone else holds that lock.
func (ft *fetcher) background(st store, rel string, job func()) (bool, error) {
	r, err := st.create()
	if err != nil {
		return false, err
	}
	defer r.Close()
	if err := r.MkdirAll(path.Dir(rel), 0o755); err != nil {
		return false, fmt.Errorf("create directory for %s: %w", st.abs(rel), err)
	}
	lock, err := tryLock(st, path.Join(path.Dir(rel), "."+path.Base(rel)+".lock"))
	if err != nil || lock == nil {
		return false, err
	}
	ft.wg.Add(1)
	go func() {
		defer ft.wg.Done()
		defer lock.release()
		job()
	}()
	return true, nil
}

// wait blocks until every download stopped (they stop early when the feature's context
// is cancelled) or ctx ends.
func (ft *fetcher) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { ft.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("downloads still running: %w", ctx.Err())
	}
}

// run downloads src to rel, retrying as curl --retry does, and logs the outcome; the
// error is for callers that go on with the file (extraction).
func (ft *fetcher) run(st store, rel, src string) error {
	ctx, cancel := context.WithTimeout(ft.ctx, ft.maxTime)
	defer cancel()
	dst := st.abs(rel)
	ft.log.Infof("TFTP: downloading %s to %s", src, dst)
	start := time.Now()
	for attempt := 0; ; attempt++ {
		n, err := ft.download(ctx, st, rel, src)
		switch {
		case err == nil && n < 0:
			ft.log.Infof("TFTP: %s is up to date with %s", dst, src)
			return nil
		case err == nil:
			ft.log.Infof("TFTP: downloaded %s to %s (%d bytes in %s)", src, dst, n, time.Since(start).Round(time.Millisecond))
			return nil
		case !retryable(err) || attempt >= ft.retries || ctx.Err() != nil:
			ft.log.Errorf("TFTP: failed to download %s to %s: %v", src, dst, err)
			return err
		}
		ft.log.Warnf("TFTP: download of %s failed (%v), retrying in %s", src, err, ft.retryDelay)
		select {
		case <-ctx.Done():
			ft.log.Errorf("TFTP: gave up downloading %s to %s: %v", src, dst, ctx.Err())
			return ctx.Err()
		case <-time.After(ft.retryDelay):
		}
	}
}

// statusError is an HTTP reply other than 2xx/304.
type statusError struct{ code int }

func (e statusError) Error() string { return "HTTP status " + strconv.Itoa(e.code) }

// retryable is what curl --retry retries: timeouts, connections cut mid-way and
// transient HTTP statuses; not refused connections, certificate or protocol errors.
func retryable(err error) bool {
	var se statusError
	if errors.As(err, &se) {
		switch se.code {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ne net.Error
	return (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// download fetches src once; n < 0 means the local copy is already current.
func (ft *fetcher) download(ctx context.Context, st store, rel, src string) (int64, error) {
	r, err := st.create()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var localTime time.Time
	if fi, err := r.Stat(rel); err == nil && fi.Mode().IsRegular() {
		localTime = fi.ModTime()
	}
	body, remoteTime, err := ft.get(ctx, src, localTime)
	if err != nil || body == nil {
		return -1, err
	}
	defer body.Close()
	if !localTime.IsZero() && !remoteTime.IsZero() && !remoteTime.After(localTime) {
		return -1, nil // the server ignored If-Modified-Since
	}
	tmp := path.Join(path.Dir(rel), "."+path.Base(rel)+".part")
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", st.abs(rel), err)
	}
	n, cerr := io.Copy(f, body)
	if err := errors.Join(cerr, f.Close()); err != nil {
		_ = r.Remove(tmp)
		return n, fmt.Errorf("download %s: %w", src, err)
	}
	if n == 0 && !localTime.IsZero() && strings.HasPrefix(src, "ftp") {
		_ = r.Remove(tmp) // curl -z printed nothing: not newer
		return -1, nil
	}
	if !remoteTime.IsZero() {
		if err := r.Chtimes(tmp, remoteTime, remoteTime); err != nil {
			_ = r.Remove(tmp)
			return n, fmt.Errorf("set time of %s: %w", st.abs(rel), err)
		}
	}
	if err := r.Rename(tmp, rel); err != nil {
		_ = r.Remove(tmp)
		return n, fmt.Errorf("write %s: %w", st.abs(rel), err)
	}
	return n, nil
}

// get opens src; a nil body with no error means "not modified since localTime".
func (ft *fetcher) get(ctx context.Context, src string, localTime time.Time) (io.ReadCloser, time.Time, error) {
	if strings.HasPrefix(strings.ToLower(src), "ftp:") {
		return ft.getFTP(ctx, src, localTime)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("request %s: %w", src, err)
	}
	if !localTime.IsZero() {
		req.Header.Set("If-Modified-Since", localTime.UTC().Format(http.TimeFormat))
	}
	resp, err := ft.client.Do(req)
	if err != nil {
		return nil, time.Time{}, err
	}
	if resp.StatusCode == http.StatusNotModified {
		resp.Body.Close()
		return nil, time.Time{}, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, time.Time{}, statusError{resp.StatusCode}
	}
	remote, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return resp.Body, remote, nil
}
