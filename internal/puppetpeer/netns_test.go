package puppetpeer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// netnsEnv names the network namespace this test binary was re-executed in.
const netnsEnv = "PUPPETPEER_NETNS"

// confineToLoopback re-runs this test binary inside a fresh network namespace that has
// only a loopback interface, and returns its exit code. Puppet Server, the agents and
// the proxy then share 127.0.0.1 and nothing else: facter's cloud-metadata probes
// (169.254.169.254 on a KVM or EC2 host) and DNS lookups of outside resolvers have no
// route to leave the machine. ran is false when this process already is the confined one.
func confineToLoopback() (code int, ran bool, err error) {
	if os.Getenv(netnsEnv) != "" {
		return 0, false, nil
	}
	if os.Geteuid() != 0 {
		return 0, true, errors.New("needs root to run Puppet inside a loopback-only network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return 0, true, errors.New("needs iproute2's ip to make a loopback-only network namespace")
	}
	ns := fmt.Sprintf("sppuppet-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return 0, true, fmt.Errorf("ip netns add %s: %v: %s", ns, err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return 0, true, fmt.Errorf("ip -n %s link set lo up: %v: %s", ns, err, out)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+ns)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), true, nil
	}
	if err != nil {
		return 0, true, fmt.Errorf("running the tests in %s: %w", ns, err)
	}
	return 0, true, nil
}
