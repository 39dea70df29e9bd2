package provision_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/smartproxy/smartproxy/core/provision"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// Rendered templates are checked by the real parsers of their consumers where they
// are installed (grub-script-check, debconf-set-selections, sh, ksvalidator) and by
// shape checks always.

const alMAC = "52:54:00:12:34:56"

func TestPXELinuxShape(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	h := e.host(hostSpec{name: "pxe", mac: alMAC, ip: "192.0.2.10", build: true})
	tok := e.token(h)
	boot := provision.BootFilesFor(e.Alma, e.AlmaMedium, "x86_64")
	if !regexp.MustCompile(`^boot/almalinux-9\.4-[0-9a-f]{8}$`).MatchString(boot.Prefix) || boot.Kernel != boot.Prefix+"-vmlinuz" ||
		boot.Initrd != boot.Prefix+"-initrd.img" || boot.KernelURL != "http://mirror.test/almalinux/9.4/BaseOS/x86_64/os/images/pxeboot/vmlinuz" {
		t.Fatalf("boot files %+v", boot)
	}

	cfg, err := e.Renderer.PXEConfig(ctx, h, provision.KindPXELinux)
	must(t, err)
	p := parsePXELinux(t, cfg)
	if p.def != "install" || p.labels["install"] == nil {
		t.Fatalf("default %q, labels %v:\n%s", p.def, p.labels, cfg)
	}
	l := p.labels["install"]
	want := "initrd=" + boot.Initrd + " inst.stage2=http://mirror.test/almalinux/9.4/BaseOS/x86_64/os inst.ks=" + unattendedURL + "/unattended/provision?token=" + tok +
		" inst.ks.sendmac ip=dhcp BOOTIF=01-52-54-00-12-34-56"
	if l["KERNEL"] != boot.Kernel || l["APPEND"] != want || l["IPAPPEND"] != "2" {
		t.Fatalf("label install %v, want KERNEL %s APPEND %s IPAPPEND 2", l, boot.Kernel, want)
	}

	// Out of build: local boot, no URL at all.
	h.Build = false
	cfg, err = e.Renderer.PXEConfig(ctx, h, provision.KindPXELinux)
	must(t, err)
	p = parsePXELinux(t, cfg)
	if p.def != "local" || p.labels["local"]["LOCALBOOT"] != "0" || strings.Contains(cfg, "http") {
		t.Fatalf("local boot config:\n%s", cfg)
	}
	if _, err := e.Renderer.PXEConfig(ctx, h, "PXEGrub"); !errors.Is(err, provision.ErrNoTemplate) {
		t.Fatalf("PXEGrub: %v, want ErrNoTemplate", err)
	}
}

func TestPXELinuxPreseedAndStatic(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	deb := e.host(hostSpec{name: "deb", mac: "52:54:00:00:20:01", ip: "192.0.2.21", build: true, os: &e.Debian, medium: &e.DebMedium})
	cfg, err := e.Renderer.PXEConfig(ctx, deb, provision.KindPXELinux)
	must(t, err)
	l := parsePXELinux(t, cfg).labels["install"]
	if !regexp.MustCompile(`^boot/debian-12-[0-9a-f]{8}-linux$`).MatchString(l["KERNEL"]) {
		t.Errorf("KERNEL %q", l["KERNEL"])
	}
	for _, part := range []string{"interface=auto", "url=" + unattendedURL + "/unattended/provision?token=" + e.token(deb), "auto=true",
		"hostname=deb", "domain=example.test", "BOOTIF=01-52-54-00-00-20-01"} {
		if !strings.Contains(" "+l["APPEND"]+" ", " "+part+" ") {
			t.Errorf("APPEND lacks %q: %s", part, l["APPEND"])
		}
	}

	// A static subnet: the kickstart URL says so, no sendmac, the address on the command line.
	n := e.Subnet
	n.BootMode = "Static"
	must(t, e.Store.UpdateSubnet(ctx, &n))
	h := e.host(hostSpec{name: "static", mac: "52:54:00:00:20:02", ip: "192.0.2.22", build: true})
	cfg, err = e.Renderer.PXEConfig(ctx, h, provision.KindPXELinux)
	must(t, err)
	app := parsePXELinux(t, cfg).labels["install"]["APPEND"]
	wantKS := "inst.ks=" + unattendedURL + "/unattended/provision?token=" + e.token(h) + "&static=1 "
	if !strings.Contains(app, wantKS) || strings.Contains(app, "sendmac") ||
		!strings.Contains(app, "ip=192.0.2.22::192.0.2.1:255.255.255.0:static.example.test::none nameserver=192.0.2.53") {
		t.Fatalf("static APPEND %s", app)
	}
	// GRUB would split the line at &: the option is quoted.
	grub, err := e.Renderer.PXEConfig(ctx, h, provision.KindPXEGrub2)
	must(t, err)
	if !strings.Contains(grub, "'"+strings.TrimSpace(wantKS)+"'") {
		t.Fatalf("grub config does not quote the URL with &:\n%s", grub)
	}
	grubCheck(t, grub)
	// d-i gets the static address on its command line (it needs it to fetch the preseed).
	debStatic := e.host(hostSpec{name: "debstatic", mac: "52:54:00:00:20:03", ip: "192.0.2.23", build: true, os: &e.Debian, medium: &e.DebMedium})
	cfg, err = e.Renderer.PXEConfig(ctx, debStatic, provision.KindPXELinux)
	must(t, err)
	if app := parsePXELinux(t, cfg).labels["install"]["APPEND"]; !strings.Contains(app, " url="+unattendedURL+"/unattended/provision?token="+e.token(debStatic)+"&static=1 ") ||
		!strings.Contains(app, " netcfg/disable_autoconfig=true netcfg/get_ipaddress=192.0.2.23 netcfg/get_netmask=255.255.255.0 netcfg/get_gateway=192.0.2.1 netcfg/get_nameservers=192.0.2.53 netcfg/confirm_static=true ") {
		t.Fatalf("static d-i APPEND %s", app)
	}
	// The kickstart itself configures the static address.
	e.do(req{path: "/unattended/provision?token=" + e.token(h)}).expect(t, http.StatusOK, "").contains(t,
		"network --device=52:54:00:00:20:02 --bootproto=static --ip=192.0.2.22 --netmask=255.255.255.0 --gateway=192.0.2.1 --nameserver=192.0.2.53 --hostname=static.example.test")
}

func TestPXEGrub2Shape(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	// The subnet has an HTTPBoot proxy: GRUB gets a second entry over HTTP.
	hb := store.SmartProxy{Name: "hb", URL: "https://proxy.test:8443", Features: []store.Feature{
		{Name: "HTTPBoot", Settings: map[string]any{"http_port": 8000, "https_port": 8443}}}}
	must(t, e.Store.CreateSmartProxy(ctx, &hb))
	n := e.Subnet
	n.HTTPBootID = &hb.ID
	must(t, e.Store.UpdateSubnet(ctx, &n))
	// A title GRUB would split at its quote stays one word.
	e.Alma.Description = "Alma's 9.4"
	must(t, e.Store.UpdateOperatingSystem(ctx, &e.Alma))
	h := e.host(hostSpec{name: "uefi", mac: alMAC, build: true})
	boot := provision.BootFilesFor(e.Alma, e.AlmaMedium, "x86_64")

	cfg, err := e.Renderer.PXEConfig(ctx, h, provision.KindPXEGrub2)
	must(t, err)
	grubCheck(t, cfg)
	for _, line := range []string{
		"  linux " + boot.Kernel + " inst.stage2=http://mirror.test/almalinux/9.4/BaseOS/x86_64/os inst.ks=" + unattendedURL + "/unattended/provision?token=" + e.token(h) + " inst.ks.sendmac ip=dhcp BOOTIF=01-52-54-00-12-34-56\n",
		"  initrd " + boot.Initrd + "\n",
		"  linux (http,proxy.test:8000)/httpboot/" + boot.Kernel + " ",
		"  initrd (http,proxy.test:8000)/httpboot/" + boot.Initrd + "\n",
	} {
		if !strings.Contains(cfg, line) {
			t.Errorf("grub config lacks %q:\n%s", line, cfg)
		}
	}
	if !strings.Contains(cfg, `menuentry 'Install Alma'\''s 9.4' {`) || strings.Count(cfg, "menuentry ") != 2 {
		t.Errorf("want 2 menu entries:\n%s", cfg)
	}
	h.Build = false
	local, err := e.Renderer.PXEConfig(ctx, h, provision.KindPXEGrub2)
	must(t, err)
	grubCheck(t, local)
	if !strings.Contains(local, "exit 1") || strings.Contains(local, "linux") {
		t.Fatalf("local grub config:\n%s", local)
	}
}

func TestIPXEShape(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	h := e.host(hostSpec{name: "ipxe", mac: alMAC, build: true})
	for _, build := range []bool{true, false} {
		h.Build = build
		script, err := e.Renderer.PXEConfig(ctx, h, provision.KindIPXE)
		must(t, err)
		cmds := ipxeCommands(t, script)
		if build && (cmds[0] != "echo" || !strings.Contains(script, "\nkernel http://mirror.test/almalinux/9.4/BaseOS/x86_64/os/images/pxeboot/vmlinuz initrd=initrd.img inst.stage2=http://mirror.test/almalinux/9.4/BaseOS/x86_64/os inst.ks=") ||
			!strings.Contains(script, "\ninitrd http://mirror.test/almalinux/9.4/BaseOS/x86_64/os/images/pxeboot/initrd.img\nboot\n")) {
			t.Errorf("build script:\n%s", script)
		}
		if !build && !strings.HasSuffix(script, "exit 1\n") {
			t.Errorf("local script:\n%s", script)
		}
	}
	// The intermediate script and the global default are iPXE too.
	for _, path := range []string{"/unattended/public/ipxe_intermediate", "/unattended/iPXE?bootstrap=1", "/unattended/iPXE"} {
		ipxeCommands(t, e.do(req{path: path, from: "127.0.0.9"}).expect(t, http.StatusOK, "").body)
	}
}

func TestKickstartSyntax(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	// A Puppet proxy: the installed host is pointed at its puppet_url's host.
	pp := store.SmartProxy{Name: "pp", URL: "https://proxy.test:8443", Features: []store.Feature{
		{Name: "Puppet", Settings: map[string]any{"puppet_url": "https://puppet.example.test:8140"}},
		{Name: "Puppet CA", Settings: map[string]any{"puppet_url": "https://ca.example.test:8140"}}}}
	must(t, e.Store.CreateSmartProxy(ctx, &pp))
	h := e.host(hostSpec{name: "ks", mac: alMAC, build: true})
	h.Parameters = []store.Parameter{{Name: "post-script", Value: "systemctl enable puppet"}, {Name: "time-zone", Value: "Europe/Paris"}}
	must(t, e.Store.UpdateHost(ctx, &h))

	ks := e.do(req{path: "/unattended/provision?token=" + e.token(h)}).expect(t, http.StatusOK, "").
		contains(t, "server = puppet.example.test\n", "ca_server = ca.example.test\n", "systemctl enable puppet\n", "timezone Europe/Paris --utc\n").body
	checkKickstart(t, ks)
}

func TestPreseedAndFinishSyntax(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	h := e.host(hostSpec{name: "deb", mac: alMAC, build: true, os: &e.Debian, medium: &e.DebMedium})
	tok := e.token(h)
	preseed := e.do(req{path: "/unattended/provision?token=" + tok}).expect(t, http.StatusOK, "").
		contains(t, "d-i mirror/http/hostname string deb.test\n", "d-i mirror/http/directory string /debian\n",
			"d-i mirror/suite string bookworm\n", "d-i netcfg/get_hostname string deb\n").body
	for i, line := range strings.Split(strings.TrimSpace(preseed), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) < 3 || (f[0] != "d-i" && f[0] != "tasksel" && f[0] != "popularity-contest") {
			t.Errorf("preseed line %d is not owner question type [value]: %q", i+1, line)
		}
	}
	if path, err := exec.LookPath("debconf-set-selections"); err == nil {
		file := writeTemp(t, "preseed.cfg", preseed)
		if out, err := exec.Command(path, "--checkonly", file).CombinedOutput(); err != nil || len(out) > 0 {
			t.Fatalf("debconf-set-selections --checkonly: %v\n%s", err, out)
		}
	} else {
		t.Log("debconf-set-selections not installed: preseed checked by shape only")
	}

	finish := e.do(req{path: "/unattended/finish?token=" + tok}).expect(t, http.StatusOK, "").
		contains(t, "/usr/bin/curl -o /dev/null --noproxy \\* --silent '"+unattendedURL+"/unattended/built?token="+tok+"'").body
	shellCheck(t, finish)
}

func TestCloudInitUserData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		h := e.host(hostSpec{name: "cloud", mac: alMAC, ip: "127.0.0.6", build: true})
		var doc map[string]any
		body := e.do(req{path: "/userdata/user-data", from: "127.0.0.6"}).expect(t, http.StatusOK, "").contains(t, "#cloud-config\n").body
		must(t, yaml.Unmarshal([]byte(body), &doc))
		if doc["fqdn"] != h.Name || doc["phone_home"].(map[string]any)["url"] != unattendedURL+"/unattended/built?token="+e.token(h) {
			t.Fatalf("user-data %v", doc)
		}
		e.do(req{path: "/userdata/" + alMAC + "/meta-data", from: "127.0.0.9"}).expect(t, http.StatusOK, "").
			contains(t, "local-hostname: cloud.example.test\n")
		e.do(req{path: "/userdata/user-data", from: "127.0.0.9"}).
			expect(t, http.StatusNotFound, "userdata: unable to find a host that matches the request from 127.0.0.9")
		e.do(req{path: "/userdata/x", from: "127.0.0.6"}).expect(t, http.StatusNotFound, `userdata: unknown kind "x"`)
	})
}

func TestTemplatesDirOverrides(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "public"), 0o755))
	e := newEnv(t, storetest.SQLite(t), envOptions{templatesDir: dir, tokenDuration: 3600e9})
	h := e.host(hostSpec{name: "mine", mac: alMAC, build: true})
	tok := e.token(h)

	writeFile(t, filepath.Join(dir, "kickstart.tmpl"), "# site kickstart for {{.Host.Name}}\n%post\ncurl {{foreman_url \"built\"}}\n%end\n")
	e.do(req{path: "/unattended/provision?token=" + tok}).
		expect(t, http.StatusOK, "# site kickstart for mine.example.test\n%post\ncurl "+unattendedURL+"/unattended/built?token="+tok+"\n%end\n")
	// An edit applies at once; a broken template is a 500 naming it.
	writeFile(t, filepath.Join(dir, "kickstart.tmpl"), "{{.Host.Name")
	r := e.do(req{path: "/unattended/provision?token=" + tok})
	if r.status != http.StatusInternalServerError || !strings.HasPrefix(r.body, "There was an error rendering the kickstart template: ") {
		t.Fatalf("broken override: %d %q", r.status, r.body)
	}
	writeFile(t, filepath.Join(dir, "kickstart.tmpl"), "{{.Host.Nope}}")
	r = e.do(req{path: "/unattended/provision?token=" + tok})
	if r.status != http.StatusInternalServerError || !strings.Contains(r.body, "There was an error rendering the kickstart template: ") ||
		!strings.Contains(r.body, "Nope") {
		t.Fatalf("failing override: %d %q", r.status, r.body)
	}
	// Public templates: added by the admin, shipped ones kept, names checked.
	writeFile(t, filepath.Join(dir, "public", "hello.tmpl"), "hello {{foreman_url \"iPXE\"}}\n")
	e.do(req{path: "/unattended/public/hello"}).expect(t, http.StatusOK, "hello "+unattendedURL+"/unattended/iPXE\n")
	e.do(req{path: "/unattended/public/ipxe_intermediate"}).expect(t, http.StatusOK, "")
	e.do(req{path: "/unattended/public/nope"}).expect(t, http.StatusNotFound, `unable to find the public template "nope"`)
	writeFile(t, filepath.Join(dir, "secret.tmpl"), "secret")
	for _, bad := range []string{"..%2Fsecret", "%2E%2E%2Fsecret", ".hidden"} {
		if r := e.do(req{path: "/unattended/public/" + bad}); r.status != http.StatusNotFound || strings.Contains(r.body, "secret\n") {
			t.Errorf("public %s: %d %q", bad, r.status, r.body)
		}
	}
}

// pxelinuxConfig is a parsed PXELinux config: the default label and each label's keywords.
type pxelinuxConfig struct {
	def    string
	labels map[string]map[string]string
}

// parsePXELinux reads the keywords PXELinux knows and fails on anything else.
func parsePXELinux(t *testing.T, cfg string) pxelinuxConfig {
	t.Helper()
	known := map[string]bool{"DEFAULT": true, "PROMPT": true, "TIMEOUT": true, "LABEL": true, "MENU": true,
		"KERNEL": true, "APPEND": true, "IPAPPEND": true, "LOCALBOOT": true}
	p := pxelinuxConfig{labels: map[string]map[string]string{}}
	var label map[string]string
	for i, line := range strings.Split(cfg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		if !known[key] {
			t.Fatalf("PXELinux line %d: unknown keyword %q:\n%s", i+1, key, cfg)
		}
		switch key {
		case "DEFAULT":
			p.def = value
		case "LABEL":
			label = map[string]string{}
			p.labels[value] = label
		case "KERNEL", "APPEND", "IPAPPEND", "LOCALBOOT":
			if label == nil {
				t.Fatalf("PXELinux line %d: %s outside a LABEL", i+1, key)
			}
			label[key] = value
		}
	}
	return p
}

// ipxeCommands checks an iPXE script's shape and returns the command of each line.
func ipxeCommands(t *testing.T, script string) []string {
	t.Helper()
	if !strings.HasPrefix(script, "#!ipxe\n") {
		t.Fatalf("not an iPXE script:\n%s", script)
	}
	known := map[string]bool{"echo": true, "kernel": true, "initrd": true, "boot": true, "exit": true, "dhcp": true, "chain": true, "shell": true}
	var cmds []string
	for _, line := range strings.Split(script, "\n")[1:] {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, stmt := range regexp.MustCompile(`\s*(&&|\|\|)\s*`).Split(line, -1) {
			if stmt == "" {
				continue
			}
			cmd := strings.Fields(stmt)[0]
			if !known[cmd] {
				t.Fatalf("iPXE: unknown command %q in %q", cmd, line)
			}
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

// grubCheck runs GRUB's own parser on a config when it is installed.
func grubCheck(t *testing.T, cfg string) {
	t.Helper()
	if !strings.Contains(cfg, "menuentry ") {
		t.Fatalf("no menuentry:\n%s", cfg)
	}
	path, err := exec.LookPath("grub-script-check")
	if err != nil {
		t.Log("grub-script-check not installed (grub-common): grub config checked by shape only")
		return
	}
	if out, err := exec.Command(path, writeTemp(t, "grub.cfg", cfg)).CombinedOutput(); err != nil {
		t.Fatalf("grub-script-check: %v\n%s\n%s", err, out, cfg)
	}
}

// shellCheck parses a script with sh -n.
func shellCheck(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("sh", "-n", writeTemp(t, "script.sh", script)).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v\n%s\n%s", err, out, script)
	}
}

// kickstartCommands are the Anaconda commands the shipped kickstart may use.
var kickstartCommands = map[string]bool{"text": true, "url": true, "lang": true, "keyboard": true, "timezone": true,
	"network": true, "rootpw": true, "firewall": true, "selinux": true, "services": true, "skipx": true, "zerombr": true,
	"clearpart": true, "autopart": true, "bootloader": true, "reboot": true}

// checkKickstart checks the command section, that every %section is closed by %end,
// that %post and %onerror bodies parse as shell, and runs ksvalidator when installed.
func checkKickstart(t *testing.T, ks string) {
	t.Helper()
	var section string
	var body strings.Builder
	for i, line := range strings.Split(ks, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case section == "" && strings.HasPrefix(trimmed, "%"):
			section = strings.Fields(trimmed)[0]
			if section != "%packages" && section != "%post" && section != "%onerror" {
				t.Fatalf("kickstart line %d: unknown section %q", i+1, section)
			}
			body.Reset()
		case section != "" && trimmed == "%end":
			if section != "%packages" {
				shellCheck(t, body.String())
			}
			section = ""
		case section != "" && strings.HasPrefix(trimmed, "%"):
			t.Fatalf("kickstart line %d: %q inside %s", i+1, trimmed, section)
		case section != "":
			body.WriteString(line + "\n")
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		default:
			if cmd := strings.Fields(trimmed)[0]; !kickstartCommands[cmd] {
				t.Fatalf("kickstart line %d: unknown command %q", i+1, cmd)
			}
		}
	}
	if section != "" {
		t.Fatalf("kickstart: %s not closed by %%end", section)
	}
	if path, err := exec.LookPath("ksvalidator"); err == nil {
		if out, err := exec.Command(path, writeTemp(t, "ks.cfg", ks)).CombinedOutput(); err != nil {
			t.Fatalf("ksvalidator: %v\n%s\n%s", err, out, ks)
		}
	} else {
		t.Log("ksvalidator (pykickstart) not installed: kickstart checked by shape and sh -n only")
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, content)
	return p
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

func TestForemanURLFromTheSubnetsTemplatesProxy(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	tp := store.SmartProxy{Name: "tp", URL: "https://proxy.test:8443", Features: []store.Feature{
		{Name: "Templates", Settings: map[string]any{"template_url": "http://proxy.test:8000"}}}}
	must(t, e.Store.CreateSmartProxy(ctx, &tp))
	n := e.Subnet
	n.TemplateID = &tp.ID
	must(t, e.Store.UpdateSubnet(ctx, &n))
	h := e.host(hostSpec{name: "tp", mac: alMAC, build: true})
	cfg, err := e.Renderer.PXEConfig(ctx, h, provision.KindPXELinux)
	must(t, err)
	if !strings.Contains(cfg, " inst.ks=http://proxy.test:8000/unattended/provision?token="+e.token(h)+" ") {
		t.Fatalf("PXE config does not point at the Templates proxy:\n%s", cfg)
	}
	// A relay's url still wins over the subnet's proxy.
	e.do(req{path: "/unattended/finish?token=" + e.token(h) + "&url=http://other.test:8000"}).expect(t, http.StatusOK, "").
		contains(t, "'http://other.test:8000/unattended/built?token=")
}
