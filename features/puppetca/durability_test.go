package puppetca

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

const killChildDir = "PUPPETCA_TEST_KILL_CHILD_DIR"

// tokenSettings are the token provider's files inside dir.
func tokenSettings(dir string) map[string]string {
	return map[string]string{
		"puppetca.yml":                    ":enabled: true\n" + tokenProvider,
		"puppetca_http_api.yml":           ":puppet_url: http://127.0.0.1:1\n",
		"puppetca_token_whitelisting.yml": fmt.Sprintf(":tokens_file: %s/tokens.yml\n:certificate: %s/token.key\n", dir, dir),
	}
}

// TestTokensSurviveKill9 issues tokens through the API in a child process and kills
// it with SIGKILL mid-stream: every token the API acknowledged must be in the file,
// the file must parse, and an acknowledged token must still validate afterwards.
func TestTokensSurviveKill9(t *testing.T) {
	if dir := os.Getenv(killChildDir); dir != "" {
		issueTokensForever(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTokensSurviveKill9$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildDir+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []string
		lines := bufio.NewScanner(out)
		lines.Buffer(make([]byte, 64<<10), 64<<10)
		deadline := time.Now().Add(20 * time.Second)
		for len(acked) < 15+round*7 && time.Now().Before(deadline) && lines.Scan() {
			if tok, ok := strings.CutPrefix(lines.Text(), "ACK "); ok {
				acked = append(acked, tok)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if len(acked) == 0 {
			t.Fatal("the child acknowledged no token")
		}
		store := &tokenStore{path: filepath.Join(dir, "tokens.yml")}
		stored, err := store.All()
		if err != nil {
			t.Fatalf("round %d: tokens file unreadable after kill -9: %v", round, err)
		}
		for _, tok := range acked {
			if !slices.Contains(stored, tok) {
				t.Fatalf("round %d: acknowledged token lost after kill -9", round)
			}
		}
		leftovers, _ := filepath.Glob(filepath.Join(dir, ".tokens.yml.tmp-*"))
		for _, f := range leftovers {
			os.Remove(f) // a temp file cut short by the kill is harmless, never read
		}
		// A restarted proxy accepts an acknowledged token.
		p := proxytest.Start(t, "", tokenSettings(dir), New())
		last := acked[len(acked)-1]
		csr := makeCSR(t, certnameOf(t, p, last), last)
		req, _ := http.NewRequest(http.MethodPost, p.URL+"/puppet/ca/validate", strings.NewReader(string(csr)))
		resp, err := p.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("round %d: acknowledged token refused after restart: %d", round, resp.StatusCode)
		}
	}
}

func certnameOf(t *testing.T, p *proxytest.Proxy, token string) string {
	t.Helper()
	f, _ := p.Registry.Lookup("puppetca")
	claims, err := verifyToken(&f.(*Feature).autosign.(*tokenAutosigner).key.PublicKey, token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return claims.Certname
}

// issueTokensForever is the child: it asks for tokens until killed, printing each
// one only after the API answered 200.
func issueTokensForever(t *testing.T, dir string) {
	p := proxytest.Start(t, "", tokenSettings(dir), New())
	for i := 0; ; i++ {
		r := p.Do(t, http.MethodPost, fmt.Sprintf("/puppet/ca/autosign/host%d.example.com", i), nil)
		tok, ok := strings.CutPrefix(r.Body, `{"generated_token":"`)
		if r.Status != 200 || !ok {
			t.Fatalf("child: %d %s", r.Status, r.Body)
		}
		fmt.Printf("ACK %s\n", strings.TrimSuffix(tok, `"}`))
	}
}
