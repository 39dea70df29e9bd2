package puppetpeer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// agentRun is one `puppet agent --test` for certname with its own confdir.
type agentRun struct {
	exitCode int
	output   string
}

// signedAndApplied: with --test, 0 means no changes and 2 changes applied.
func (r agentRun) signedAndApplied() bool {
	return (r.exitCode == 0 || r.exitCode == 2) && strings.Contains(r.output, "Applied catalog")
}

// agentDir is certname's confdir (ssl, state and csr_attributes.yaml live there).
func (l *lab) agentDir(certname string) string { return l.path("agents", certname) }

func (l *lab) runAgent(ctx context.Context, certname string) (agentRun, error) {
	d := l.agentDir(certname)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return agentRun{}, err
	}
	conf := fmt.Sprintf("[main]\ncertname = %s\nserver = 127.0.0.1\nserverport = %d\nkeylength = 2048\n"+
		"vardir = %[3]s/var\nssldir = %[3]s/ssl\nlogdir = %[3]s/log\nrundir = %[3]s/run\ncodedir = %[3]s/code\npublicdir = %[3]s/public\n",
		certname, l.port, d)
	if err := os.WriteFile(filepath.Join(d, "puppet.conf"), []byte(conf), 0o644); err != nil {
		return agentRun{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// --http_keepalive_timeout 0 avoids a 30 s TLS 1.3 stall on the first run (puppet-peers.md).
	cmd := exec.CommandContext(ctx, "puppet", "agent", "--test", "--confdir", d, "--http_keepalive_timeout", "0", "--color", "false")
	// Every agent runs on this one machine: FACTER_fqdn makes each its own machine to
	// the ENC script, which names the host by the fqdn fact (hosts are found by
	// certname, then by that name, so a shared fqdn would merge the agents' hosts).
	cmd.Env = append(os.Environ(), "FACTER_fqdn="+certname)
	out, err := cmd.CombinedOutput()
	run := agentRun{output: string(out)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		run.exitCode = exit.ExitCode()
	default:
		return run, fmt.Errorf("puppet agent for %s: %w", certname, err)
	}
	return run, nil
}
