package nsupdate

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/rr"
)

// Changes that arrive while the server is busy with earlier ones are sent together:
// one signed UPDATE carrying the prerequisites and updates of several records of a
// zone. The server checks every prerequisite before applying anything (RFC 2136
// §3.2), so for distinct owner names the combined message means exactly what the
// separate ones would; when one prerequisite fails, the batch is retried record by
// record so each caller gets its own answer. A server like BIND syncs its journal
// once per message, which is what bounds the create rate, not the network.
//
// Each zone has one sender goroutine and so one message in flight: the server applies
// a zone's updates one at a time anyway, and whatever queues meanwhile rides along in
// the next message.
const (
	maxBatch      = 64   // changes per message
	queueSize     = 1024 // changes waiting per zone
	maxUDPRequest = 1232 // larger updates go over TCP, as nsupdate does
)

// change is one record change waiting to be sent.
type change struct {
	zone    string
	name    string // canonical owner
	prereq  []dns.RR
	updates []dns.RR
	done    chan error
}

// batcher queues changes for the zones' sender goroutines; it exists between Start
// and Stop.
type batcher struct {
	ctx    context.Context // cancelled by Stop: in-flight exchanges end
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	queues map[string]chan *change // by zone, each drained by one sendLoop
}

// queue returns zone's queue, starting its sender on first use.
func (p *Provider) queue(b *batcher, zone string) chan *change {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[zone]
	if !ok {
		q = make(chan *change, queueSize)
		b.queues[zone] = q
		b.wg.Add(1)
		go p.sendLoop(b, q)
	}
	return q
}

var errStopped = errors.New("dns_nsupdate is stopped")

// Start makes changes go through the zones' senders.
func (p *Provider) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	b := &batcher{ctx: ctx, cancel: cancel, stop: make(chan struct{}), queues: map[string]chan *change{}}
	p.mu.Lock()
	p.batch = b
	p.mu.Unlock()
	return nil
}

// Stop stops the senders; callers of changes still queued get errStopped.
func (p *Provider) Stop(ctx context.Context) error {
	p.mu.Lock()
	b := p.batch
	p.mu.Unlock()
	if b == nil {
		return nil
	}
	close(b.stop)
	b.cancel()
	waited := make(chan struct{})
	go func() { b.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dns_nsupdate: senders did not stop: %w", ctx.Err())
	}
}

// submit sends c, with others when there is a queue, and waits for its result.
func (p *Provider) submit(ctx context.Context, c *change) error {
	p.mu.Lock()
	b := p.batch
	p.mu.Unlock()
	if b == nil { // not started (as in unit tests): send it alone, now
		return p.sendOne(ctx, c)
	}
	c.done = make(chan error, 1)
	select {
	case p.queue(b, c.zone) <- c:
	case <-b.stop:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.done:
		return err
	case <-b.stop:
		return errStopped
	case <-ctx.Done():
		return ctx.Err() // it may still be applied, as after any timeout
	}
}

func (p *Provider) sendLoop(b *batcher, q chan *change) {
	defer b.wg.Done()
	for {
		var batch []*change
		select {
		case c := <-q:
			batch = append(batch, c)
		case <-b.stop:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case c := <-q:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		p.sendBatch(b.ctx, batch)
	}
}

// sendBatch sends one zone's changes in as few messages as the rules allow: split
// where an owner name repeats, since those changes must apply one after the other.
func (p *Provider) sendBatch(ctx context.Context, batch []*change) {
	for len(batch) > 0 {
		n := distinctPrefix(batch)
		p.sendGroup(ctx, batch[0].zone, batch[:n])
		batch = batch[n:]
	}
}

// distinctPrefix is how many leading changes have distinct owner names.
func distinctPrefix(cs []*change) int {
	seen := map[string]bool{}
	for i, c := range cs {
		if seen[c.name] {
			return i
		}
		seen[c.name] = true
	}
	return len(cs)
}

func (p *Provider) sendGroup(ctx context.Context, zone string, group []*change) {
	if len(group) == 1 {
		group[0].done <- p.sendOne(ctx, group[0])
		return
	}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	for _, c := range group {
		m.Answer = append(m.Answer, c.prereq...)
		m.Ns = append(m.Ns, c.updates...)
	}
	err := p.send(ctx, fmt.Sprintf("%d records of %s", len(group), zone), m)
	var conflict *rr.ConflictError
	if errors.As(err, &conflict) {
		for _, c := range group { // someone's prerequisite failed: find out whose
			c.done <- p.sendOne(ctx, c)
		}
		return
	}
	for _, c := range group {
		c.done <- err
	}
}

func (p *Provider) sendOne(ctx context.Context, c *change) error {
	m := new(dns.Msg)
	m.SetUpdate(c.zone)
	m.Answer = append(m.Answer, c.prereq...)
	m.Ns = append(m.Ns, c.updates...)
	return p.send(ctx, c.name, m)
}

// send signs and sends one update and interprets the reply.
func (p *Provider) send(ctx context.Context, what string, m *dns.Msg) error {
	if p.key != nil {
		p.key.Sign(m)
	}
	reply, err := p.exchangeVia(ctx, m, m.Len() > maxUDPRequest)
	if err != nil {
		return fmt.Errorf("DNS update of %s at %s: %w", what, p.server, err)
	}
	if err := rr.CheckReply(what, reply); err != nil {
		p.log.Debugf("dns_nsupdate: update of %s refused: %v", what, err)
		return err
	}
	return nil
}
