package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/sdnotify"
	"github.com/smartproxy/smartproxy/logging"
)

// notify tells systemd the service's state (Type=notify units wait for READY=1).
func notify(log *logrus.Logger, state string) {
	if err := sdnotify.Notify(state); err != nil {
		log.Warn(err)
	}
}

// reopenLogOnSIGUSR1 reopens log_file on SIGUSR1, the packaged unit's ExecReload and
// what logrotate sends after moving the file away (Go's default would end the process).
// It returns a function that stops listening.
func reopenLogOnSIGUSR1(log *logrus.Logger, out *logging.Output) func() {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-usr1:
				if err := out.Reopen(); err != nil {
					log.Errorf("SIGUSR1: %v", err)
					continue
				}
				log.Info("Log file reopened on SIGUSR1")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(usr1)
		close(done)
	}
}
