package provision

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

// shipped are the templates in the repository (templates/*.tmpl, public ones under
// templates/public/), written for this project.
//
//go:embed templates
var shipped embed.FS

// ErrNoTemplate says no template exists for what was asked: the kind has none for the
// host's OS family, or the name is unknown.
var ErrNoTemplate = errors.New("no such template")

// templateName is what a template may be called: a public name comes from the URL.
var templateName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// templates finds a template by name ("kickstart", "public/ipxe_intermediate"): the
// admin's copy NAME.tmpl in dir first (read at every render, so an edit applies at
// once), else the shipped one (parsed once).
type templates struct {
	dir     string
	shipped map[string]*template.Template
}

// newTemplates parses every shipped template, so a broken one stops the core at start.
func newTemplates(dir string) (*templates, error) {
	t := &templates{dir: dir, shipped: map[string]*template.Template{}}
	err := fs.WalkDir(shipped, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tmpl") {
			return err
		}
		text, err := shipped.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".tmpl")
		parsed, err := parse(name, string(text))
		if err != nil {
			return fmt.Errorf("shipped template %s: %w", name, err)
		}
		t.shipped[name] = parsed
		return nil
	})
	return t, err
}

// parse parses text with placeholder functions; render binds the real ones.
func parse(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=zero").Funcs(funcs(&Vars{}, "")).Parse(text)
}

// find returns the template called name, ErrNoTemplate when there is none.
func (t *templates) find(name string) (*template.Template, error) {
	base := strings.TrimPrefix(name, "public/")
	if !templateName.MatchString(base) {
		return nil, ErrNoTemplate
	}
	if t.dir != "" {
		text, err := os.ReadFile(filepath.Join(t.dir, filepath.FromSlash(name)+".tmpl"))
		switch {
		case err == nil:
			parsed, err := parse(name, string(text))
			if err != nil {
				return nil, &RenderError{Name: name, Err: err}
			}
			return parsed, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("reading the template %s from templates_dir: %w", name, err)
		}
	}
	if parsed, ok := t.shipped[name]; ok {
		return parsed, nil
	}
	return nil, ErrNoTemplate
}
