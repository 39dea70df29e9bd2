package puppetpeer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// start launches the JVM the way Debian's unit does (minus runuser) and waits for
// trapperkeeper to write 1 into the restart file: the server is ready.
func (l *lab) start(ctx context.Context) error {
	restart := l.path("run", "restart")
	if err := os.WriteFile(restart, []byte("0"), 0o644); err != nil {
		return err
	}
	stdout, err := os.Create(l.path("log", "stdout.log"))
	if err != nil {
		return err
	}
	// C1 only, one GC thread and JRuby interpreting: the server starts on less CPU (a
	// loaded CI machine took over 4 minutes with the JIT compilers competing for it).
	args := []string{"-Xms512m", "-Xmx1g", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djruby.compile.mode=OFF",
		"-Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger",
		"--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens", "java.base/java.io=ALL-UNNAMED",
		"-Djruby.lib=/usr/share/jruby/lib", "-XX:+CrashOnOutOfMemoryError", "-XX:ErrorFile=" + l.path("log", "java_err_%p.log"),
		"-jar", puppetserverJar, "--config", l.path("conf.d"), "--bootstrap-config", l.path("services.d"), "--restart-file", restart}
	started := make(chan error, 1)
	l.serverDone = make(chan error, 1)
	// The JVM is started from a goroutine locked to its OS thread, with a parent-death
	// signal: if this test binary dies (timeout panic, kill -9) the kernel kills the
	// JVM too, so no server outlives the tests.
	go func() {
		runtime.LockOSThread()
		cmd := exec.Command("java", args...)
		cmd.Dir = l.dir
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, stdout, stdout
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		l.serverPID = cmd.Process.Pid
		started <- nil
		l.serverDone <- cmd.Wait()
		stdout.Close()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting puppetserver: %w", err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-l.serverDone:
			l.serverDone <- err
			return fmt.Errorf("puppetserver exited while starting (%v); see %s", err, l.path("log"))
		case <-ctx.Done():
			return fmt.Errorf("puppetserver not ready: %w", ctx.Err())
		case <-tick.C:
			if b, _ := os.ReadFile(restart); bytes.HasPrefix(b, []byte("1")) {
				return nil
			}
		}
	}
}

// stop ends the JVM by its PID: SIGTERM, then SIGKILL if it lingers.
func (l *lab) stop() {
	if l.serverPID == 0 {
		return
	}
	_ = syscall.Kill(l.serverPID, syscall.SIGTERM)
	select {
	case <-l.serverDone:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(l.serverPID, syscall.SIGKILL)
		<-l.serverDone
	}
	l.serverPID = 0
}
