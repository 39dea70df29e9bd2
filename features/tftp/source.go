package tftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"

	"github.com/smartproxy/smartproxy/features/tftp/tftpd"
	"github.com/smartproxy/smartproxy/internal/safepath"
)

// Render produces a file's content when a client asks for it, instead of reading it
// from tftproot (per-MAC iPXE scripts, for example). name is the cleaned path relative
// to the root. Returning an error wrapping fs.ErrNotExist lets the file on disk (if
// any) answer instead.
type Render func(ctx context.Context, name string, client netip.AddrPort) ([]byte, error)

type dynamicFile struct {
	pattern string
	render  Render
}

// ServeDynamic answers requests whose cleaned name matches pattern (path.Match syntax,
// e.g. "pxelinux.cfg/01-*.ipxe") with render. Call it before Start; patterns are
// tried in the order they were added.
func (f *Feature) ServeDynamic(pattern string, render Render) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("dynamic file pattern %q: %w", pattern, err)
	}
	f.dynamic = append(f.dynamic, dynamicFile{pattern: pattern, render: render})
	return nil
}

// source is what the TFTP server reads: dynamic files first, then tftproot, with every
// name confined to the root.
func (f *Feature) source() tftpd.Source {
	dynamic := append([]dynamicFile(nil), f.dynamic...)
	root := f.cfg.root
	return tftpd.SourceFunc(func(ctx context.Context, client netip.AddrPort, req *tftpd.Request) (tftpd.Content, error) {
		rel, err := safepath.Clean(req.Filename)
		if err != nil {
			return nil, &tftpd.Error{Code: tftpd.CodeAccessViolation, Msg: "Access violation"}
		}
		for _, d := range dynamic {
			if ok, _ := path.Match(d.pattern, rel); !ok {
				continue
			}
			data, err := d.render(ctx, rel, client)
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("render %s: %w", rel, err)
			}
			return tftpd.BytesContent(data), nil
		}
		return openFile(root, rel)
	})
}

// openFile opens a regular file inside root; links leading outside and anything that
// is not a regular file are access violations.
func openFile(root, rel string) (tftpd.Content, error) {
	file, err := safepath.Open(root, rel)
	if errors.Is(err, safepath.ErrOutside) {
		return nil, &tftpd.Error{Code: tftpd.CodeAccessViolation, Msg: "Access violation"}
	}
	if err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		file.Close()
		return nil, &tftpd.Error{Code: tftpd.CodeAccessViolation, Msg: "Not a regular file"}
	}
	return tftpd.FileContent(file, fi.Size()), nil
}
