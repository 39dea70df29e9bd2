package orchestrate

import (
	"context"
	"net/http"
	"net/url"
)

func (o *Orchestrator) setAutosign(ctx context.Context, proxy, certname string) error {
	_, err := o.proxies.Do(ctx, http.MethodPost, proxy, "/puppet/ca/autosign/"+url.PathEscape(certname), url.Values{})
	return err
}

func (o *Orchestrator) delAutosign(ctx context.Context, proxy, certname string) error {
	_, err := o.proxies.Do(ctx, http.MethodDelete, proxy, "/puppet/ca/autosign/"+url.PathEscape(certname), nil)
	return notFoundIsDone(err)
}

// queueEnableAutosign lets the host's first CSR be signed while it builds (post 55).
func (o *Orchestrator) queueEnableAutosign(q *queue, t *target) {
	proxy, certname := t.caProxy, t.certname()
	q.addPost("Enable PuppetCA autosigning for "+certname, 55,
		func(ctx context.Context) error { return o.setAutosign(ctx, proxy, certname) },
		func(ctx context.Context) error { return o.delAutosign(ctx, proxy, certname) })
}

// queueDisableAutosign removes the entry once the build is over or the host goes.
func (o *Orchestrator) queueDisableAutosign(q *queue, t *target, post bool) {
	proxy, certname := t.caProxy, t.certname()
	add := q.add
	if post {
		add = q.addPost
	}
	add("Disable PuppetCA autosigning for "+certname, 50,
		func(ctx context.Context) error { return o.delAutosign(ctx, proxy, certname) },
		func(ctx context.Context) error { return o.setAutosign(ctx, proxy, certname) })
}

// queueCleanCertificate deletes the host's certificate (a rebuild gets a new one; a
// destroyed host needs none). A deleted certificate cannot be brought back (Foreman's
// mirror, setCertificate, is a no-op), so a failure here undoes nothing either: it is
// logged and the run goes on (best effort), as Foreman's post-queue does.
func (o *Orchestrator) queueCleanCertificate(q *queue, t *target, priority int, post bool) {
	proxy, certname := t.caProxy, t.certname()
	add := q.add
	if post {
		add = q.addPost
	}
	add("Delete PuppetCA certificates for "+certname, priority, func(ctx context.Context) error {
		_, err := o.proxies.Do(ctx, http.MethodDelete, proxy, "/puppet/ca/"+url.PathEscape(certname), nil)
		return notFoundIsDone(err)
	}, nil)
	q.tasks[len(q.tasks)-1].bestEffort = true
}
