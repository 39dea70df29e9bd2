// Package orchestrate is what creating, changing and deleting a host means on the
// smart proxies (spec §6.9): DNS A and PTR records, the DHCP reservation, PXE configs
// and boot files over TFTP, Puppet CA autosign entries; conflict pre-checks; tasks run
// by priority and undone in reverse order when one fails. It talks to proxies only
// through core/proxies, over their REST API.
package orchestrate

import (
	"context"
	"errors"
	"net"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/core/store"
)

// PXERenderer renders a host's PXE config of one kind ("PXELinux", "PXEGrub2",
// "iPXE"): the build template while h.Build, else the local-boot one. "" or
// provision.ErrNoTemplate means no template of that kind: nothing is deployed.
// core/provision's Renderer implements it.
type PXERenderer interface {
	PXEConfig(ctx context.Context, h store.Host, kind string) (string, error)
}

// batchRenderer is what a renderer may add: every kind of a host rendered from one
// load of its variables (core/provision's Renderer has it). Kinds without a template
// are absent from the map.
type batchRenderer interface {
	PXEConfigs(ctx context.Context, h store.Host, kinds []string) (map[string]string, error)
}

// Options are the orchestrator's collaborators.
type Options struct {
	Store    *store.Store
	Proxies  *proxies.Client
	Renderer PXERenderer // nil: no PXE configs are deployed
	// Resolver answers the DNS conflict pre-check (nil: the system's resolver). It must
	// reach the DNS servers the proxies manage.
	Resolver *net.Resolver
	// UnattendedURL is the base hosts fetch templates from when their subnet has no
	// Templates proxy (the iPXE Embedded loader's DHCP filename).
	UnattendedURL string
	Log           logrus.FieldLogger
}

// Orchestrator implements api.Orchestrator. It is safe for concurrent use.
type Orchestrator struct {
	store         *store.Store
	proxies       *proxies.Client
	renderer      PXERenderer
	resolver      *net.Resolver
	unattendedURL string
	log           logrus.FieldLogger
}

var _ api.Orchestrator = (*Orchestrator)(nil)

// New returns an orchestrator.
func New(opts Options) *Orchestrator {
	o := &Orchestrator{store: opts.Store, proxies: opts.Proxies, renderer: opts.Renderer, resolver: opts.Resolver,
		unattendedURL: opts.UnattendedURL, log: opts.Log}
	if o.resolver == nil {
		o.resolver = net.DefaultResolver
	}
	if o.log == nil {
		o.log = logrus.StandardLogger()
	}
	return o
}

func (o *Orchestrator) newQueue(host string) *queue {
	return &queue{warn: func(msg string) { o.log.WithField("host", host).Warn(msg) }}
}

// record stores the run's task list under the host name; a failure to store it is
// logged, it does not change the outcome.
func (o *Orchestrator) record(ctx context.Context, hostName, operation string, q *queue) {
	run := store.TaskRun{HostName: hostName, Operation: operation, Tasks: q.list()}
	if err := o.store.SaveTaskRun(context.WithoutCancel(ctx), &run); err != nil {
		o.log.WithField("host", hostName).Errorf("storing the task list: %v", err)
	}
}

// holdName reserves a host name for this run before any proxy is asked, so two
// creates (or renames) to one name, in this process or in another core on the same
// database, never both reach the proxies: the second is refused with Foreman's 422
// "Name has already been taken". A name a stored host has is refused the same way:
// its records look like the new host's, and a rollback would delete them.
func (o *Orchestrator) holdName(ctx context.Context, name string) (release func(), err error) {
	free, err := o.store.ReserveHostName(ctx, name, store.HostNameReservationStale)
	if err != nil {
		return nil, err
	}
	release = func() {
		if err := free(); err != nil {
			o.log.WithField("host", name).Errorf("releasing the name reservation: %v", err)
		}
	}
	if _, err := o.store.HostByName(ctx, name); err == nil {
		release()
		return nil, &store.ConflictError{Field: "name"}
	} else if !errors.Is(err, store.ErrNotFound) {
		release()
		return nil, err
	}
	return release, nil
}

// Create runs the create queue around save: conflicts are checked first (a 422 naming
// them unless the request asked to overwrite them), then DNS, DHCP, the save, TFTP,
// boot files and the post-queue (autosign). Any failure undoes the completed steps,
// the save included, so the host is not stored.
func (o *Orchestrator) Create(ctx context.Context, h *store.Host, save func(context.Context) error) error {
	release, err := o.holdName(ctx, h.Name)
	if err != nil {
		return err
	}
	defer release()
	t, err := o.resolve(ctx, *h)
	if err != nil {
		return err
	}
	q := o.newQueue(h.Name)
	records := dnsRecords(t)
	res, hasRes, err := o.reservationOf(ctx, t, servers{})
	if err != nil {
		return taskError(err)
	}
	present, err := o.checkConflicts(ctx, q, h.Name, records, nil, res, hasRes, nil)
	if err != nil {
		return err
	}
	for _, r := range records {
		o.queueSetDNS(q, 10, r, present.dns[r])
	}
	if hasRes {
		o.queueSetDHCP(q, 10, res, present.dhcp)
	}
	q.add("Save host "+h.Name, 15,
		func(ctx context.Context) error {
			if err := save(ctx); err != nil {
				return err
			}
			t.host.ID, t.host.CreatedAt, t.host.UpdatedAt = h.ID, h.CreatedAt, h.UpdatedAt
			return nil
		},
		func(ctx context.Context) error { return o.store.DeleteHost(ctx, h.ID) })
	if o.tftpWanted(t) {
		o.queueDeployTFTP(q, t, false)
		o.queueFetchBootFiles(q, t)
	}
	if h.Build && t.caProxy != "" {
		o.queueEnableAutosign(q, t)
	}
	err = q.run(ctx)
	o.record(ctx, h.Name, "create", q)
	return err
}

// Update changes on the proxies only what the change touches (Foreman's rules): DNS
// when the name, address or DNS proxies changed (old records removed at 9, new ones
// created at 10); the reservation when any of its fields changed (removed at 5,
// created at 9); PXE configs when build, MAC, loader, OS, medium or architecture
// changed (old MAC's files removed at 19, deployed at 20, boot files at 25); autosign
// on entering build, and removed on leaving it. A failure undoes every step, the
// save included (the old row is written back), which restores the old records.
func (o *Orchestrator) Update(ctx context.Context, old store.Host, h *store.Host, save func(context.Context) error) error {
	if h.Name != old.Name {
		release, err := o.holdName(ctx, h.Name)
		if err != nil {
			return err
		}
		defer release()
	}
	was, err := o.resolve(ctx, old)
	if err != nil {
		return err
	}
	t, err := o.resolve(ctx, *h)
	if err != nil {
		return err
	}
	q := o.newQueue(old.Name)
	oldRecords, newRecords := dnsRecords(was), dnsRecords(t)
	goneRecords, addedRecords := diffRecords(oldRecords, newRecords)
	known := servers{}
	oldRes, hadRes, err := o.reservationOf(ctx, was, known)
	if err != nil {
		return taskError(err)
	}
	res, hasRes, err := o.reservationOf(ctx, t, known)
	if err != nil {
		return taskError(err)
	}
	resChanged := hadRes != hasRes || oldRes != res
	var oldResPtr *reservation
	if hadRes {
		oldResPtr = &oldRes
	}
	checkRes := hasRes && resChanged
	present, err := o.checkConflicts(ctx, q, h.Name, addedRecords, oldRecords, res, checkRes, oldResPtr)
	if err != nil {
		return err
	}
	for _, r := range goneRecords {
		o.queueDelDNS(q, 9, r)
	}
	for _, r := range addedRecords {
		o.queueSetDNS(q, 10, r, present.dns[r])
	}
	if resChanged {
		if hadRes {
			o.queueDelDHCP(q, 5, oldRes)
		}
		if hasRes {
			o.queueSetDHCP(q, 9, res, present.dhcp)
		}
	}
	q.add("Save host "+h.Name, 15, save, func(ctx context.Context) error { return o.store.RestoreHost(ctx, old) })
	if pxeChanged(was, t) || o.tftpWanted(was) != o.tftpWanted(t) {
		sameMAC := was.host.MAC == t.host.MAC && was.tftpProxy == t.tftpProxy
		if o.tftpWanted(was) && !sameMAC {
			o.queueDeleteTFTP(q, 19, was)
		}
		if o.tftpWanted(t) {
			o.queueDeployTFTP(q, t, sameMAC)
			o.queueFetchBootFiles(q, t)
		}
	}
	switch {
	case !old.Build && h.Build && t.caProxy != "":
		o.queueCleanCertificate(q, t, 51, true)
		o.queueEnableAutosign(q, t)
	case old.Build && !h.Build && was.caProxy != "":
		o.queueDisableAutosign(q, was, true)
	}
	err = q.run(ctx)
	name := h.Name
	if err != nil {
		name = old.Name
	}
	o.record(ctx, name, "update", q)
	return err
}

// Destroy removes the host's records: DNS at 1, the reservation at 5, PXE configs at
// 20, the autosign entry at 50 (in build only), then the row, then (best effort) its certificate. The
// autosign entry goes before the row, unlike Foreman's post-queue, so that a failure
// can still be undone with the host kept.
func (o *Orchestrator) Destroy(ctx context.Context, h store.Host, remove func(context.Context) error) error {
	t, err := o.resolve(ctx, h)
	if err != nil {
		return err
	}
	q := o.newQueue(h.Name)
	for _, r := range dnsRecords(t) {
		o.queueDelDNS(q, 1, r)
	}
	res, hasRes, err := o.reservationOf(ctx, t, servers{})
	if err != nil {
		return taskError(err)
	}
	if hasRes {
		o.queueDelDHCP(q, 5, res)
	}
	if t.tftpProxy != "" && h.MAC != "" {
		o.queueDeleteTFTP(q, 20, t)
	}
	if t.caProxy != "" && h.Build {
		// Only a host in build has an entry; asking for another one is an error with
		// the hostname autosigner when its file does not exist yet (406).
		o.queueDisableAutosign(q, t, false)
	}
	q.add("Delete host "+h.Name, 55, remove, nil)
	if t.caProxy != "" {
		o.queueCleanCertificate(q, t, 59, true)
	}
	err = q.run(ctx)
	o.record(ctx, h.Name, "destroy", q)
	return err
}

// Built is called by core/provision once the host left build mode (h as saved, Build
// false): the local-boot PXE configs replace the build ones and the autosign entry
// goes. A failure undoes both and is returned.
func (o *Orchestrator) Built(ctx context.Context, h store.Host) error {
	t, err := o.resolve(ctx, h)
	if err != nil {
		return err
	}
	q := o.newQueue(h.Name)
	if o.tftpWanted(t) {
		o.queueDeployTFTP(q, t, true)
	}
	if t.caProxy != "" {
		o.queueDisableAutosign(q, t, false)
	}
	err = q.run(ctx)
	o.record(ctx, h.Name, "built", q)
	return err
}

// pxeChanged: what the PXE configs depend on changed.
func pxeChanged(was, t *target) bool {
	a, b := was.host, t.host
	return a.Build != b.Build || a.MAC != b.MAC || a.PXELoader != b.PXELoader || a.Name != b.Name ||
		!sameID(a.OperatingSystemID, b.OperatingSystemID) || !sameID(a.MediumID, b.MediumID) ||
		!sameID(a.ArchitectureID, b.ArchitectureID) || was.tftpProxy != t.tftpProxy
}

func sameID(a, b *int64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

// diffRecords splits the records into those to remove and those to create.
func diffRecords(old, new []dnsRecord) (gone, added []dnsRecord) {
	has := func(list []dnsRecord, r dnsRecord) bool {
		for _, x := range list {
			if x == r {
				return true
			}
		}
		return false
	}
	for _, r := range old {
		if !has(new, r) {
			gone = append(gone, r)
		}
	}
	for _, r := range new {
		if !has(old, r) {
			added = append(added, r)
		}
	}
	return gone, added
}

// taskError makes a failure before any task (asking the TFTP proxy for next-server) a
// 422 naming the proxy, like a failed step.
func taskError(err error) error {
	return &api.TaskError{Messages: []string{err.Error()}}
}
