package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// server is the DHCPv4 server: one UDP socket, a read loop that answers every
// request through the engine, and the journal's committer, which sends the replies
// that wait for a lease to be durable.
type server struct {
	cfg    *config
	st     *store
	engine *engine
	log    *logrus.Entry
	ifaces *ifaceCache

	conn     *ipv4.PacketConn
	acks     *sender // replies sent by the committer once their lease is durable
	stopping atomic.Bool
	reading  sync.WaitGroup  // the read loop
	ctx      context.Context // ends when the server stops: the committer, DNS lookups
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the committer

	stats stats
}

// stats are the server's counters (see README "Metrics").
type stats struct {
	received, malformed, ignored, replies, journalErrors atomic.Uint64
}

func newServer(cfg *config, st *store, log *logrus.Entry) *server {
	ctx, cancel := context.WithCancel(context.Background())
	names := newNameCache()
	resolve := func(host string) (netip.Addr, bool) { return names.resolve(ctx, host) }
	return &server{
		cfg:    cfg,
		st:     st,
		engine: newEngine(st, log, resolve),
		log:    log,
		ifaces: newIfaceCache(cfg.netns),
		ctx:    ctx,
		cancel: cancel,
	}
}

// start opens the socket (inside :netns: when set) and starts the loops.
func (s *server) start() error {
	var pc net.PacketConn
	err := inNetns(s.cfg.netns, func() error {
		lc := net.ListenConfig{Control: socketOptions}
		var err error
		pc, err = lc.ListenPacket(context.Background(), "udp4", s.cfg.listen.String())
		return err
	})
	if err != nil {
		s.cancel()
		return fmt.Errorf("DHCP server cannot listen on %s: %w", s.cfg.listen, err)
	}
	udp := pc.(*net.UDPConn)
	_ = udp.SetReadBuffer(4 << 20)
	_ = udp.SetWriteBuffer(4 << 20)
	s.conn = ipv4.NewPacketConn(udp)
	s.acks = newSender(s)
	if err := s.conn.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		s.cancel()
		udp.Close()
		return fmt.Errorf("DHCP server: asking for packet info on %s: %w", s.cfg.listen, err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if s.st.shared != nil {
			s.st.shared.run(s.ctx, s.acks.flush)
			return
		}
		s.st.journal.run(s.ctx, s.st.compact, s.acks.flush)
	}()
	s.reading.Add(1)
	go s.readLoop()
	s.log.Infof("DHCP server listening on %s (interfaces %v)", s.cfg.listen, s.interfacesText())
	return nil
}

func (s *server) interfacesText() string {
	if len(s.cfg.interfaces) == 0 {
		return "all"
	}
	return fmt.Sprint(s.cfg.interfaces)
}

// socketOptions lets broadcasts out. SO_REUSEADDR stays off, so a second DHCP
// server on the port (dnsmasq, dhcpd) is an error at start, not a silent split.
func socketOptions(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
	})
	return errors.Join(err, serr)
}

// shutdown stops reading, lets the committer write what is queued and send those
// ACKs, and only then closes the socket.
func (s *server) shutdown() {
	s.stopping.Store(true)
	_ = s.conn.SetReadDeadline(time.Now()) // wakes the read loop
	s.reading.Wait()
	s.cancel()
	s.wg.Wait()
	s.conn.Close()
	s.log.Infof("DHCP server stopped: %d datagrams received, %d malformed, %d ignored, %d replies sent, %d journal errors",
		s.stats.received.Load(), s.stats.malformed.Load(), s.stats.ignored.Load(), s.stats.replies.Load(), s.stats.journalErrors.Load())
}

func (s *server) readLoop() {
	defer s.reading.Done()
	out := newSender(s)
	oobSize := len(ipv4.NewControlMessage(ipv4.FlagDst | ipv4.FlagInterface))
	msgs := make([]ipv4.Message, batchSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 4096)}
		msgs[i].OOB = make([]byte, oobSize)
	}
	var cm ipv4.ControlMessage
	for {
		n, err := s.conn.ReadBatch(msgs, 0)
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warnf("DHCP server read: %v", err)
			continue
		}
		now := time.Now()
		for _, m := range msgs[:n] {
			cm = ipv4.ControlMessage{}
			if cm.Parse(m.OOB[:m.NN]) != nil {
				continue
			}
			s.serve(m.Buffers[0][:m.N], &cm, now, out)
		}
		out.flush()
	}
}

// serve answers one datagram; immediate replies go to out, replies that wait for
// the journal to the committer's sender. It must not panic on any input: the fuzz
// tests feed the same path garbage.
func (s *server) serve(data []byte, cm *ipv4.ControlMessage, now time.Time, out *sender) {
	s.stats.received.Add(1)
	req, err := dhcpv4.FromBytes(data)
	if err != nil {
		s.stats.malformed.Add(1)
		return
	}
	iface, ok := s.ifaces.get(cm.IfIndex, now)
	if !ok || (len(s.cfg.interfaces) > 0 && !slices.Contains(s.cfg.interfaces, iface.name)) {
		s.stats.ignored.Add(1)
		return
	}
	in := packetInfo{ifIndex: cm.IfIndex, ifAddrs: iface.addrs, dst: addr4(cm.Dst)}
	reply, ok := s.engine.handle(req, in, now.Unix())
	if !ok {
		s.stats.ignored.Add(1)
		return
	}
	if reply.durable == nil {
		out.add(reply, in.ifIndex)
		return
	}
	s.st.commit(reply.durable, func(err error) {
		switch {
		case errors.Is(err, errShed):
			return // counted and logged by the committer; the client retries
		case err != nil:
			s.stats.journalErrors.Add(1)
			s.log.Errorf("DHCP lease of %s not acknowledged: %v", reply.durable.IP, err)
			return
		}
		reply.reply = reply.final(time.Now().Unix())
		s.acks.add(reply, in.ifIndex)
	})
}
