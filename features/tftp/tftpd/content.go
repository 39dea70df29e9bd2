package tftpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"

	"github.com/pin/tftp/v3/netascii"
)

// Content is what a transfer sends: random access so a window can be resent from any
// block, and a size for the tsize option.
type Content interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Source finds the content for a read request. Errors become TFTP ERROR packets: a
// *Error as given, fs.ErrNotExist as "File not found", anything else as "Access violation".
type Source interface {
	Open(ctx context.Context, client netip.AddrPort, req *Request) (Content, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, client netip.AddrPort, req *Request) (Content, error)

func (f SourceFunc) Open(ctx context.Context, client netip.AddrPort, req *Request) (Content, error) {
	return f(ctx, client, req)
}

// Error is a TFTP error to send to the client as is.
type Error struct {
	Code uint16
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("TFTP error %d: %s", e.Code, e.Msg) }

// FileContent serves an open file of the given size.
func FileContent(f *os.File, size int64) Content { return &fileContent{File: f, size: size} }

type fileContent struct {
	*os.File
	size int64
}

func (c *fileContent) Size() int64 { return c.size }

// BytesContent serves bytes rendered in memory (the dynamic-file hook).
func BytesContent(b []byte) Content { return bytesContent{bytes.NewReader(b)} }

type bytesContent struct{ *bytes.Reader }

func (bytesContent) Close() error { return nil }

// maxNetascii bounds the memory a netascii conversion may take; netascii is for
// small text files (configs), never for kernels.
const maxNetascii = 32 << 20

// toNetascii converts c (CR LF line ends, CR NUL for a bare CR) into memory, because the
// converted size, which tsize and block offsets need, is only known afterwards.
func toNetascii(c Content) (Content, error) {
	defer c.Close()
	r := io.LimitReader(netascii.ToReader(io.NewSectionReader(c, 0, c.Size())), maxNetascii+1)
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("netascii conversion: %w", err)
	}
	if len(b) > maxNetascii {
		return nil, errors.New("file too large for netascii mode")
	}
	return BytesContent(b), nil
}

// errorFor maps a Source error to what the client is told.
func errorFor(err error) (uint16, string) {
	var te *Error
	switch {
	case errors.As(err, &te):
		return te.Code, te.Msg
	case errors.Is(err, fs.ErrNotExist):
		return CodeNotFound, "File not found"
	default:
		return CodeAccessViolation, "Access violation"
	}
}
