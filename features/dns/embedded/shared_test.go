package embedded

import (
	"fmt"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// Prerequisites hold across nodes even on names an update does not write: node A
// adds X only if Y does not exist while node B adds Y only if X does not exist,
// both at once. Planned on the same copy, both would pass (write skew); the
// compares of the prerequisites' keys let exactly one through in every round.
func TestEtcdPrerequisitesOnOtherNames(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	a := startedOnEtcd(t, cluster, "/dnsprereq/")
	b := startedOnEtcd(t, cluster, "/dnsprereq/")
	const rounds = 40
	for round := 0; round < rounds; round++ {
		x, y := fmt.Sprintf("x%d.example.test.", round), fmt.Sprintf("y%d.example.test.", round)
		addIfAbsent := func(p *Provider, add, absent string) int {
			m := new(dns.Msg)
			m.SetUpdate("example.test.")
			m.NameNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: absent}}})
			rr, _ := dns.NewRR(add + " 300 IN A 10.99.1.1")
			m.Insert([]dns.RR{rr})
			wire, err := m.Pack() // as from the wire: record lengths set
			if err == nil {
				err = m.Unpack(wire)
			}
			if err != nil {
				t.Error(err)
			}
			return p.store.Update("example.test.", m.Answer, m.Ns)
		}
		rcodes := make([]int, 2)
		var start, done sync.WaitGroup
		start.Add(1)
		done.Add(2)
		go func() { defer done.Done(); start.Wait(); rcodes[0] = addIfAbsent(a, x, y) }()
		go func() { defer done.Done(); start.Wait(); rcodes[1] = addIfAbsent(b, y, x) }()
		start.Done()
		done.Wait()
		ok := 0
		for _, rc := range rcodes {
			switch rc {
			case dns.RcodeSuccess:
				ok++
			case dns.RcodeYXDomain:
			default:
				t.Fatalf("round %d: rcode %s", round, dns.RcodeToString[rc])
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of the two exclusive updates applied (rcodes %v), want exactly 1", round, ok, rcodes)
		}
	}
}
