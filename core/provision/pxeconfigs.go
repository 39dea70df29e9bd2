package provision

import (
	"context"

	"github.com/smartproxy/smartproxy/core/store"
)

// PXEConfigs renders several PXE kinds of one host from one load of its variables
// (domain, subnet, OS, medium, parameters…): core/orchestrate deploys three kinds per
// host, and loading them once per kind was most of a host create's database round
// trips. A kind without a template is left out of the map. Same rules as PXEConfig.
func (r *Renderer) PXEConfigs(ctx context.Context, h store.Host, kinds []string) (map[string]string, error) {
	v, err := loadVars(ctx, r.store, h)
	if err != nil {
		return nil, err
	}
	if v.Token, err = r.buildToken(ctx, h); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(kinds))
	for _, kind := range kinds {
		name, ok := pxeTemplate(kind, h.Build)
		if !ok {
			continue
		}
		each := v // render sets the kind, template and token on its copy
		config, err := r.render(ctx, &each, h, name, renderContext{kind: kind, tokenLoaded: true})
		if err != nil {
			return nil, err
		}
		out[kind] = config
	}
	return out, nil
}
