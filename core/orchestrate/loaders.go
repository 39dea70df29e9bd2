package orchestrate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// loaderFiles are the DHCP filenames of Foreman's PXE loaders; %s is the architecture
// suffix (x64, ia32, aa64). HTTP loaders are served by the subnet's HTTPBoot proxy.
var loaderFiles = map[string]string{
	"PXELinux BIOS":         "pxelinux.0",
	"PXELinux UEFI":         "pxelinux.efi",
	"Grub UEFI":             "grub/grub%s.efi",
	"Grub2 BIOS":            "grub2/grub%s.0",
	"Grub2 ELF":             "grub2/grub%s.elf",
	"Grub2 UEFI":            "grub2/grub%s.efi",
	"Grub2 UEFI SecureBoot": "grub2/shim%s.efi",
	"iPXE Chain BIOS":       "undionly-ipxe.0",
	"iPXE Chain UEFI":       "ipxe-%s.efi",
}

var httpLoaderFiles = map[string]string{
	"Grub2 UEFI HTTP":             "http:grub2/grub%s.efi",
	"Grub2 UEFI HTTPS":            "https:grub2/grub%s.efi",
	"Grub2 UEFI HTTPS SecureBoot": "https:grub2/shim%s.efi",
	"iPXE UEFI HTTP":              "http:ipxe-%s.efi",
}

func archSuffix(arch string) string {
	switch arch {
	case "i386", "i686", "x86":
		return "ia32"
	case "aarch64", "arm64":
		return "aa64"
	}
	return "x64"
}

// bootFilename is the DHCP filename of the host's PXE loader ("" for None, unknown, or
// an HTTP loader without an HTTPBoot proxy).
func (o *Orchestrator) bootFilename(ctx context.Context, t *target) string {
	loader := t.host.PXELoader
	suffix := archSuffix(t.arch)
	if f, ok := loaderFiles[loader]; ok {
		if strings.Contains(f, "%s") {
			return fmt.Sprintf(f, suffix)
		}
		return f
	}
	if loader == "iPXE Embedded" {
		// The iPXE built into the firmware fetches its script over HTTP.
		if base := o.templateBase(ctx, t); base != "" {
			return base + "/unattended/iPXE"
		}
		return ""
	}
	spec, ok := httpLoaderFiles[loader]
	if !ok || t.httpBoot == nil {
		return ""
	}
	scheme, file, _ := strings.Cut(spec, ":")
	if strings.Contains(file, "%s") {
		file = fmt.Sprintf(file, suffix)
	}
	u, err := url.Parse(t.httpBoot.URL)
	if err != nil {
		return ""
	}
	port := httpBootPort(t, scheme)
	if port == "" {
		return ""
	}
	return fmt.Sprintf("%s://%s:%s/httpboot/%s", scheme, u.Hostname(), port, file)
}

// httpBootPort is the http_port or https_port the HTTPBoot proxy exposes.
func httpBootPort(t *target, scheme string) string {
	for _, f := range t.httpBoot.Features {
		if f.Name != "HTTPBoot" {
			continue
		}
		switch v := f.Settings[scheme+"_port"].(type) {
		case float64:
			return fmt.Sprint(int(v))
		case string:
			return v
		}
	}
	return ""
}

// templateBase is where hosts fetch templates, as Foreman's foreman_url: the subnet's
// Templates proxy (its template_url from GET /unattended/templateServer, else its URL),
// else the unattended_url setting.
func (o *Orchestrator) templateBase(ctx context.Context, t *target) string {
	if t.templateProxy != "" {
		body, err := o.proxies.Do(ctx, http.MethodGet, t.templateProxy, "/unattended/templateServer", nil)
		var reply struct {
			TemplateServer string `json:"templateServer"`
		}
		if err == nil && json.Unmarshal(body, &reply) == nil && reply.TemplateServer != "" {
			return strings.TrimSuffix(reply.TemplateServer, "/")
		}
		return strings.TrimSuffix(t.templateProxy, "/")
	}
	return strings.TrimSuffix(o.unattendedURL, "/")
}
