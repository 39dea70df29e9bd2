package tftpd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// transfer sends one file to one client over its own socket (the server's TID),
// connected to the client so the kernel drops packets from anyone else.
//
// One loop serves both RFC 1350 lockstep (windowsize 1) and RFC 7440 windows: send the
// blocks after the last acknowledged one, up to windowsize of them, then wait. An ACK
// for block n means the client holds every block up to n, so the next window starts at
// n+1 whether the window was complete or not. Block numbers are tracked as 64-bit
// counts and only their low 16 bits go on the wire, which is the rollover every
// common client expects for files of more than 65535 blocks.
type transfer struct {
	link    link
	content Content
	size    int64
	p       params
	retries int

	chunk    []byte // a window's worth (or more) of content, read with one pread
	chunkOff int64  // content offset of chunk[0]
	chunkLen int

	recv    []byte
	hdrs    []byte      // DATA headers of the window in flight
	blocks  []dataBlock // the window in flight
	expires time.Time   // when the current wait for the client ends
	resent  int         // blocks sent more than once
}

// errClientAbort is a transfer the client ended with an ERROR packet.
type errClientAbort struct {
	code uint16
	msg  string
}

func (e errClientAbort) Error() string {
	return fmt.Sprintf("client sent error %d: %s", e.code, e.msg)
}

var errTimeout = errors.New("timed out waiting for the client")

// chunkBlocks is how many blocks at least one read of the content fetches: enough to
// make the reads cheap beside the packets, small enough that hundreds of transfers stay
// light (16 x 1468 bytes is 23 KiB each).
const chunkBlocks = 16

func newTransfer(l link, c Content, p params, retries int) *transfer {
	chunk := max(p.windowSize, chunkBlocks) * p.blockSize
	if whole := (c.Size()/int64(p.blockSize) + 1) * int64(p.blockSize); whole < int64(chunk) {
		chunk = int(whole) // small files (configs) need no bigger buffer
	}
	return &transfer{
		link: l, content: c, size: c.Size(), p: p, retries: retries,
		chunk: make([]byte, chunk), recv: make([]byte, 1024),
		hdrs: make([]byte, 4*p.windowSize), blocks: make([]dataBlock, 0, p.windowSize),
	}
}

// run negotiates (when oack is not empty) and sends the content; it returns the
// number of content bytes the client acknowledged.
func (t *transfer) run(oack []Option) (int64, error) {
	if len(oack) > 0 {
		if err := t.sendOACK(oack); err != nil {
			return 0, err
		}
	}
	bs := int64(t.p.blockSize)
	total := uint64(t.size/bs) + 1 // the last block is short, possibly empty
	var acked uint64
	for acked < total {
		first, last := acked+1, min(acked+uint64(t.p.windowSize), total)
		if err := t.sendWindow(first, last); err != nil {
			return ackedBytes(acked, bs, t.size), err
		}
		next, err := t.awaitProgress(acked, first, last)
		if err != nil {
			return ackedBytes(acked, bs, t.size), err
		}
		acked = next
	}
	return t.size, nil
}

func ackedBytes(blocks uint64, bs, size int64) int64 { return min(int64(blocks)*bs, size) }

// awaitProgress waits for an ACK beyond acked and returns the new acked block. On
// timeout the window is resent. Stale and duplicate ACKs are ignored in lockstep
// (resending on them is the Sorcerer's Apprentice bug); in a window, a repeated ACK of
// the last acked block is the client asking for the window again, honoured once.
func (t *transfer) awaitProgress(acked, first, last uint64) (uint64, error) {
	t.armDeadline(false)
	timeouts, resentOnDup := 0, false
	for {
		r, err := t.read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			timeouts++
			if timeouts > t.retries {
				return acked, errTimeout
			}
			if err := t.sendWindow(first, last); err != nil {
				return acked, err
			}
			t.resent += int(last - first + 1)
			t.armDeadline(true)
			continue
		}
		if err != nil {
			return acked, err
		}
		if !r.ack {
			return acked, errClientAbort{r.errCode, r.errMsg}
		}
		// Map the 16-bit wire number onto the blocks in flight.
		ahead := uint64(r.block - uint16(acked))
		if ahead > last-acked {
			continue
		}
		if ahead > 0 {
			return acked + ahead, nil
		}
		if t.p.windowSize > 1 && !resentOnDup {
			resentOnDup = true
			if err := t.sendWindow(first, last); err != nil {
				return acked, err
			}
			t.resent += int(last - first + 1)
			t.armDeadline(true)
		}
	}
}

// sendOACK sends the option acknowledgement and waits for the client's ACK of block 0.
func (t *transfer) sendOACK(opts []Option) error {
	pkt := appendOACK(nil, opts)
	for attempt := 0; ; attempt++ {
		if err := t.link.write(pkt); err != nil {
			return fmt.Errorf("send OACK: %w", err)
		}
		t.armDeadline(true)
		for {
			r, err := t.read()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return err
			}
			if !r.ack {
				return errClientAbort{r.errCode, r.errMsg}
			}
			if r.block == 0 {
				return nil
			}
		}
		if attempt >= t.retries {
			return errTimeout
		}
	}
}

// sendWindow sends blocks first..last (absolute numbers) from one chunk of content.
func (t *transfer) sendWindow(first, last uint64) error {
	bs := int64(t.p.blockSize)
	start := int64(first-1) * bs
	end := min(int64(last)*bs, t.size)
	if err := t.load(start, end); err != nil {
		return err
	}
	t.blocks = t.blocks[:0]
	for b := first; b <= last; b++ {
		from := int64(b-1)*bs - t.chunkOff
		to := min(from+bs, end-t.chunkOff)
		hdr := t.hdrs[4*len(t.blocks) : 4*len(t.blocks)+4]
		putDataHeader(hdr, uint16(b))
		t.blocks = append(t.blocks, dataBlock{hdr: hdr, data: t.chunk[from:to]})
	}
	if err := t.link.writeBlocks(t.blocks); err != nil {
		return fmt.Errorf("send blocks %d-%d: %w", first, last, err)
	}
	return nil
}

// load makes sure content bytes [start, end) are in the chunk, reading from start.
func (t *transfer) load(start, end int64) error {
	if start >= t.chunkOff && end <= t.chunkOff+int64(t.chunkLen) {
		return nil
	}
	n := int(min(int64(len(t.chunk)), t.size-start))
	got, err := t.content.ReadAt(t.chunk[:n], start)
	if got < n || (err != nil && !errors.Is(err, io.EOF)) {
		return fmt.Errorf("read at offset %d: got %d of %d bytes: %w", start, got, n, errors.Join(err, io.ErrUnexpectedEOF))
	}
	t.chunkOff, t.chunkLen = start, n
	return nil
}

// armDeadline starts a wait of one timeout. Moving a socket deadline costs a timer
// update, so unless fresh is asked for it only moves once less than three quarters
// of the timeout remain: a wait lasts 0.75-1 timeout.
func (t *transfer) armDeadline(fresh bool) {
	now := time.Now()
	if !fresh && t.expires.Sub(now) > t.p.timeout*3/4 {
		return
	}
	t.expires = now.Add(t.p.timeout)
}

// read returns the next ACK or ERROR from the client, skipping anything else.
func (t *transfer) read() (reply, error) {
	for {
		n, err := t.link.read(t.recv, t.expires)
		if err != nil {
			return reply{}, err
		}
		if r, ok := parseReply(t.recv[:n]); ok {
			return r, nil
		}
	}
}

// abort tells the client why the transfer ends (best effort).
func (t *transfer) abort(code uint16, msg string) {
	_ = t.link.write(appendError(nil, code, msg))
}
