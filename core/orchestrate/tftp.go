package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/smartproxy/smartproxy/core/provision"
	"github.com/smartproxy/smartproxy/core/proxies"
)

// pxeKinds are the template kinds deployed per host, in Foreman's order. A kind the
// renderer has no template for renders "" and is skipped.
var pxeKinds = []string{"PXELinux", "PXEGrub2", "iPXE"}

// tftpWanted says whether t gets PXE configs: a TFTP proxy, a MAC, a renderer, and a
// PXE loader other than None.
func (o *Orchestrator) tftpWanted(t *target) bool {
	return t.tftpProxy != "" && t.host.MAC != "" && o.renderer != nil && t.host.PXELoader != "None"
}

func (o *Orchestrator) postTFTP(ctx context.Context, proxy, kind, mac, config string) error {
	_, err := o.proxies.Do(ctx, http.MethodPost, proxy, "/tftp/"+kind+"/"+mac, url.Values{"pxeconfig": {config}})
	return err
}

func (o *Orchestrator) delTFTP(ctx context.Context, proxy, kind, mac string) error {
	_, err := o.proxies.Do(ctx, http.MethodDelete, proxy, "/tftp/"+kind+"/"+mac, nil)
	return notFoundIsDone(err)
}

// currentTFTP is the config the proxy serves now, "" when there is none.
func (o *Orchestrator) currentTFTP(ctx context.Context, proxy, kind, mac string) (string, error) {
	body, err := o.proxies.Do(ctx, http.MethodGet, proxy, "/tftp/"+kind+"/"+mac, nil)
	var pe *proxies.ProxyError
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return "", nil
	}
	return string(body), err
}

// queueDeployTFTP renders and posts each kind's config for t (setTFTP). The template
// is rendered when the task runs, after the host row is written, so it sees the saved
// host (its id and build token: the save task fills in t.host). With restore (an update or built on the same MAC) the
// config served before is read first and written back by the undo; otherwise the
// undo deletes the files.
func (o *Orchestrator) queueDeployTFTP(q *queue, t *target, restore bool) {
	h := t.host
	var configs map[string]string // every kind, rendered by the first task (batchRenderer)
	for _, kind := range pxeKinds {
		var before string
		var had bool
		q.add(fmt.Sprintf("Deploy TFTP %s config for %s", kind, h.Name), 20,
			func(ctx context.Context) error {
				var config string
				var err error
				if batch, ok := o.renderer.(batchRenderer); ok {
					if configs == nil {
						if configs, err = batch.PXEConfigs(ctx, t.host, pxeKinds); err != nil {
							return fmt.Errorf("rendering the PXE templates: %w", err)
						}
					}
					config = configs[kind]
				} else {
					config, err = o.renderer.PXEConfig(ctx, t.host, kind)
				}
				if errors.Is(err, provision.ErrNoTemplate) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("rendering the %s template: %w", kind, err)
				}
				if config == "" {
					return nil
				}
				if restore {
					if before, err = o.currentTFTP(ctx, t.tftpProxy, kind, h.MAC); err != nil {
						return err
					}
				}
				had = true
				return o.postTFTP(ctx, t.tftpProxy, kind, h.MAC, config)
			},
			func(ctx context.Context) error {
				switch {
				case !had:
					return nil
				case before != "":
					return o.postTFTP(ctx, t.tftpProxy, kind, h.MAC, before)
				}
				return o.delTFTP(ctx, t.tftpProxy, kind, h.MAC)
			})
	}
}

// queueDeleteTFTP removes each kind's files for t's MAC (delTFTP); the undo writes
// back what was served.
func (o *Orchestrator) queueDeleteTFTP(q *queue, priority int, t *target) {
	h := t.host
	for _, kind := range pxeKinds {
		var before string
		q.add(fmt.Sprintf("Delete TFTP %s config for %s", kind, h.Name), priority,
			func(ctx context.Context) error {
				var err error
				if before, err = o.currentTFTP(ctx, t.tftpProxy, kind, h.MAC); err != nil {
					return err
				}
				return o.delTFTP(ctx, t.tftpProxy, kind, h.MAC)
			},
			func(ctx context.Context) error {
				if before == "" {
					return nil
				}
				return o.postTFTP(ctx, t.tftpProxy, kind, h.MAC, before)
			})
	}
}

// bootFiles are the kernel and initrd t installs from, when it is in build: the
// names core/provision's PXE templates load (provision.BootFilesFor).
func bootFiles(t *target) []bootFile {
	if !t.host.Build || t.os == nil || t.medium == nil || t.arch == "" {
		return nil
	}
	b := provision.BootFilesFor(*t.os, *t.medium, t.arch)
	if b.Prefix == "" {
		return nil
	}
	return []bootFile{{b.Prefix, b.KernelURL}, {b.Prefix, b.InitrdURL}}
}

type bootFile struct{ prefix, url string }

// queueFetchBootFiles asks the TFTP proxy to download the kernel and initrd
// (fetch_boot_file). The files are shared by every host of that medium: nothing to undo.
func (o *Orchestrator) queueFetchBootFiles(q *queue, t *target) {
	files := bootFiles(t)
	if t.tftpProxy == "" || len(files) == 0 {
		return
	}
	q.add("Fetch TFTP boot files for "+t.host.Name, 25, func(ctx context.Context) error {
		for _, f := range files {
			_, err := o.proxies.Do(ctx, http.MethodPost, t.tftpProxy, "/tftp/fetch_boot_file",
				url.Values{"prefix": {f.prefix}, "path": {f.url}})
			if err != nil {
				return err
			}
		}
		return nil
	}, nil)
}
