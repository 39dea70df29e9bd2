package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/smartproxy/smartproxy/core/proxies"
)

// Foreman's Ping constants, casing included.
const (
	statusOK   = "ok"
	statusFail = "FAIL"
)

// addStatus pings the proxies of an index page at once (include_status=true): "ok"
// when the proxy answered its features with a JSON object, as Foreman's ping does (a
// proxy whose features are all unknown to the core still answers), else "FAIL".
func (a *API) addStatus(ctx context.Context, views []smartProxyJSON) {
	var wg sync.WaitGroup
	for i := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i].Status = statusFail
			_, err := a.proxies.Features(ctx, views[i].URL)
			var de *proxies.DiscoveryError
			if err == nil || errors.As(err, &de) && answered(de) {
				views[i].Status = statusOK
			}
		}()
	}
	wg.Wait()
}

// answered tells a discovery that got a valid object (but nothing usable in it) from
// one that could not talk to the proxy.
func answered(de *proxies.DiscoveryError) bool {
	for _, m := range de.Messages {
		if strings.HasPrefix(m, "Unable to communicate") || strings.HasPrefix(m, "An invalid response") {
			return false
		}
	}
	return true
}

// addVersion adds the proxy's version and each feature's module version
// (include_version=true); "N/A" when the proxy does not answer.
func (a *API) addVersion(ctx context.Context, view *smartProxyJSON) {
	view.Version = "N/A"
	v, err := a.proxies.Version(ctx, view.URL)
	if err != nil {
		a.log.Warnf("version of proxy %s: %v", view.Name, err)
		return
	}
	view.Version = fmt.Sprint(v["version"])
	modules, _ := v["modules"].(map[string]any)
	for key, version := range modules {
		name, known := proxies.NormaliseFeature(key)
		if !known {
			continue
		}
		for i := range view.Features {
			if view.Features[i].Name == name {
				view.Features[i].Version = fmt.Sprint(version)
			}
		}
	}
}
