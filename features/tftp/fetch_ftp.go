package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// getFTP streams an ftp:// URL through curl (Go has no FTP client), into our own file
// writer so the destination stays confined to the root.
func (ft *fetcher) getFTP(ctx context.Context, src string, localTime time.Time) (io.ReadCloser, time.Time, error) {
	args := []string{"--fail", "--silent", "--show-error", "--location",
		"--connect-timeout", strconv.Itoa(int(ft.connect.Seconds())), "--output", "-"}
	if ft.insecure {
		args = append(args, "--insecure")
	}
	if !localTime.IsZero() {
		args = append(args, "--time-cond", localTime.UTC().Format(http.TimeFormat))
	}
	cmd := exec.CommandContext(ctx, "curl", append(args, "--", src)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("curl %s: %w", src, err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, time.Time{}, fmt.Errorf("curl %s: %w", src, err)
	}
	return &commandOutput{ReadCloser: out, cmd: cmd, stderr: &stderr}, time.Time{}, nil
}

// commandOutput reports the command's failure when its output is closed.
type commandOutput struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *strings.Builder
}

func (c *commandOutput) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		if werr := c.cmd.Wait(); werr != nil {
			return n, fmt.Errorf("curl: %w: %s", werr, strings.TrimSpace(c.stderr.String()))
		}
		c.cmd = nil
	}
	return n, err
}

func (c *commandOutput) Close() error {
	if c.cmd != nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
	return nil
}
