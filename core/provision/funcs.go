package provision

import (
	"net/url"
	"strconv"
	"strings"
	"text/template"
)

// funcs are the template functions (README.md documents them), bound to one render:
// base is where foreman_url points.
func funcs(v *Vars, base string) template.FuncMap {
	foremanURL := func(kind string, extra ...string) string { return foremanURL(base, kind, v.Token, extra...) }
	return template.FuncMap{
		"foreman_url": foremanURL,
		"param": func(name string, def ...string) string {
			if value, ok := v.Params[name]; ok {
				return value
			}
			if len(def) > 0 {
				return def[0]
			}
			return ""
		},
		"param_true": func(name string) bool {
			b, _ := strconv.ParseBool(v.Params[name])
			return b || v.Params[name] == "yes"
		},
		"shell_quote": shellQuote,
		"seq": func(from, to int) []int {
			var out []int
			for i := from; i <= to && len(out) < 1024; i++ {
				out = append(out, i)
			}
			return out
		},
		"kernel_options": func(style ...string) string {
			opts := kernelOptions(v, foremanURL)
			if len(style) > 0 && style[0] == "grub" {
				for i, o := range opts {
					if strings.ContainsAny(o, "&;|<>{}$'\"\\ ") {
						opts[i] = "'" + strings.ReplaceAll(o, "'", `'\''`) + "'"
					}
				}
			}
			return strings.Join(opts, " ")
		},
	}
}

// foremanURL is Foreman's foreman_url(kind): base + /unattended/KIND, then the token
// while the host has one, then extra parameters appended as given (iPXE placeholders
// like mac=${net0/mac} must stay unescaped).
func foremanURL(base, kind, token string, extra ...string) string {
	u := strings.TrimRight(base, "/") + "/unattended/" + kind
	var params []string
	if token != "" {
		params = append(params, "token="+url.QueryEscape(token))
	}
	params = append(params, extra...)
	if len(params) > 0 {
		u += "?" + strings.Join(params, "&")
	}
	return u
}

// shellQuote makes s one word for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// kernelOptions is the installer's command line for PXE templates, one option per item: where the
// kickstart or preseed is, how the network comes up, which NIC booted (BOOTIF), and
// the host parameter kernelcmd appended.
func kernelOptions(v *Vars, foremanURL func(string, ...string) string) []string {
	var opts []string
	var extra []string
	if v.Static {
		extra = append(extra, "static=1")
	}
	provision := foremanURL("provision", extra...)
	switch family(v.OS.Family) {
	case familyRedhat:
		major, _ := strconv.Atoi(v.OS.Major)
		// Where Anaconda's own image is: booted from a kernel alone (TFTP or iPXE) it
		// has nothing else to find it by before the kickstart is read.
		if v.Medium.URL != "" {
			opts = append(opts, "inst.stage2="+v.Medium.URL)
		}
		switch {
		case major > 0 && major < 8 && v.Static:
			opts = append(opts, "ks="+provision)
		case major > 0 && major < 8:
			opts = append(opts, "ks="+provision, "kssendmac", "ks.sendmac")
		case v.Static:
			opts = append(opts, "inst.ks="+provision)
		default:
			opts = append(opts, "inst.ks="+provision, "inst.ks.sendmac")
		}
		if v.Static {
			opts = append(opts, "ip="+v.Host.IP+"::"+v.Subnet.Gateway+":"+v.Subnet.Mask+":"+v.Host.Name+"::none")
			if v.Subnet.DNSPrimary != "" {
				opts = append(opts, "nameserver="+v.Subnet.DNSPrimary)
			}
		} else {
			opts = append(opts, "ip=dhcp")
		}
	case familyDebian:
		opts = append(opts, "interface=auto", "url="+provision, "auto=true", "priority=critical",
			"hostname="+v.Host.ShortName, "domain="+v.Domain.Name,
			"locale="+param(v, "lang", "en_US.UTF-8"), "keymap="+param(v, "keyboard", "us"))
		if v.Static {
			// d-i must reach the preseed before it can read the network from it.
			opts = append(opts, "netcfg/disable_autoconfig=true", "netcfg/get_ipaddress="+v.Host.IP,
				"netcfg/get_netmask="+v.Subnet.Mask, "netcfg/get_gateway="+v.Subnet.Gateway,
				"netcfg/get_nameservers="+v.Subnet.DNSPrimary, "netcfg/confirm_static=true")
		}
	}
	if v.Host.MAC != "" {
		opts = append(opts, "BOOTIF=01-"+strings.ReplaceAll(strings.ToLower(v.Host.MAC), ":", "-"))
	}
	if k := v.Params["kernelcmd"]; k != "" {
		opts = append(opts, strings.Fields(k)...)
	}
	return opts
}

func param(v *Vars, name, def string) string {
	if value, ok := v.Params[name]; ok {
		return value
	}
	return def
}
