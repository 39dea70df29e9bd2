// Package testbin builds the project's commands for tests that run the real programs.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"testing"
)

// Main is a TestMain that builds each command of binaries (import path → where to put
// the built program's path) once into a temporary folder, runs the tests and removes
// the folder. A failed build fails the whole test binary with go build's output.
func Main(m *testing.M, binaries map[string]*string) {
	dir, err := os.MkdirTemp("", "smartproxy-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for pkg, dest := range binaries {
		*dest = filepath.Join(dir, path.Base(pkg))
		build := exec.Command("go", "build", "-o", *dest, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
