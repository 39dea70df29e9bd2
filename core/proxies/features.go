package proxies

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Feature is one feature of a proxy as the core stores it.
type Feature struct {
	Name         string         // Foreman's name, e.g. "Puppet CA"
	Capabilities []string       // never nil
	Settings     map[string]any // the proxy's exposed settings (JSON numbers as float64); never nil
}

// DiscoveryError is a failed discovery; Messages are Foreman's full messages, each one
// an entry of the 422's errors.base.
type DiscoveryError struct {
	Messages []string
}

func (e *DiscoveryError) Error() string { return strings.Join(e.Messages, " ") }

// Foreman's messages (app/models/smart_proxy.rb), word for word.
const (
	msgInvalidReply = "An invalid response was received while requesting available features from this proxy"
	msgNoFeatures   = "No features found on this proxy, please make sure you enable at least one feature"
	msgUnrecognized = `Features "%s" in this proxy are not recognized by Foreman. ` +
		`If these features come from a Smart Proxy plugin, make sure Foreman has the plugin installed too.`
	msgUnreachable = "Unable to communicate with the proxy: %s"
	msgCheckProxy  = "Please check the proxy is configured and running on the host."
)

// reported is a feature as the proxy reported it, before name matching.
type reported struct {
	Capabilities []string
	Settings     map[string]any
}

// Features runs Foreman's discovery (spec §6.3): GET /v2/features, or GET /features
// when the proxy answers 404 there (a proxy older than v2). Of v2 only features in
// state "running" count. Names are matched with NormaliseFeature; unknown ones are
// ignored. The result is sorted by name. Any failure is a *DiscoveryError.
func (c *Client) Features(ctx context.Context, proxyURL string) ([]Feature, error) {
	all, err := c.reportedFeatures(ctx, proxyURL)
	if err != nil {
		return nil, err
	}
	var known []Feature
	for name, f := range all {
		if foremanName, ok := NormaliseFeature(name); ok {
			known = append(known, Feature{Name: foremanName, Capabilities: f.Capabilities, Settings: f.Settings})
		}
	}
	if len(known) == 0 {
		if len(all) == 0 {
			return nil, &DiscoveryError{Messages: []string{msgNoFeatures}}
		}
		names := make([]string, 0, len(all))
		for name := range all {
			names = append(names, name)
		}
		sort.Strings(names)
		return nil, &DiscoveryError{Messages: []string{fmt.Sprintf(msgUnrecognized, toSentence(names))}}
	}
	sort.Slice(known, func(i, j int) bool { return known[i].Name < known[j].Name })
	// Two proxy names could normalise to one Foreman name ("puppetca", "Puppet CA"):
	// Foreman would store the feature once, so do we (the first in name order).
	out := known[:1]
	for _, f := range known[1:] {
		if f.Name != out[len(out)-1].Name {
			out = append(out, f)
		}
	}
	return out, nil
}

// reportedFeatures fetches the proxy's running features by their proxy names.
func (c *Client) reportedFeatures(ctx context.Context, proxyURL string) (map[string]reported, error) {
	body, err := c.Do(ctx, http.MethodGet, proxyURL, "/v2/features", nil)
	var pe *ProxyError
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		body, err = c.Do(ctx, http.MethodGet, proxyURL, "/features", nil)
		if err != nil {
			return nil, unreachable(proxyURL, "/features", err)
		}
		return parseV1(proxyURL, "/features", body)
	}
	if err != nil {
		return nil, unreachable(proxyURL, "/v2/features", err)
	}
	return parseV2(proxyURL, body)
}

// parseV2 reads {"name":{"state":…,"settings":{…},"capabilities":[…]},…} and keeps
// the running features.
func parseV2(proxyURL string, body []byte) (map[string]reported, error) {
	var reply map[string]json.RawMessage
	if err := decodeObject(body, &reply); err != nil {
		return nil, replyError(proxyURL, "/v2/features", err)
	}
	out := make(map[string]reported, len(reply))
	for name, raw := range reply {
		var entry struct {
			State        string `json:"state"`
			Settings     any    `json:"settings"`
			Capabilities any    `json:"capabilities"`
		}
		if err := decodeObject(raw, &entry); err != nil {
			return nil, replyError(proxyURL, "/v2/features", err)
		}
		if entry.State != "running" {
			continue
		}
		out[name] = reported{Capabilities: stringList(entry.Capabilities), Settings: object(entry.Settings)}
	}
	return out, nil
}

// parseV1 reads ["name",…]; a v1 proxy tells nothing but names.
func parseV1(proxyURL, path string, body []byte) (map[string]reported, error) {
	var reply any
	if err := json.Unmarshal(body, &reply); err != nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, &DiscoveryError{Messages: []string{msgInvalidReply}}
		}
		return nil, unreachable(proxyURL, path, fmt.Errorf("invalid JSON: %w", err))
	}
	out := map[string]reported{}
	switch v := reply.(type) {
	case []any:
		for _, item := range v {
			name, ok := item.(string)
			if !ok {
				return nil, &DiscoveryError{Messages: []string{msgInvalidReply}}
			}
			out[name] = reported{Capabilities: []string{}, Settings: map[string]any{}}
		}
	case map[string]any: // Foreman takes a hash from either version as it is
		for name := range v {
			out[name] = reported{Capabilities: []string{}, Settings: map[string]any{}}
		}
	default:
		return nil, &DiscoveryError{Messages: []string{msgInvalidReply}}
	}
	return out, nil
}

// errNotObject marks valid JSON of the wrong shape.
var errNotObject = errors.New("not a JSON object")

// decodeObject decodes a JSON object into v; errNotObject if the JSON is not one.
func decodeObject(data []byte, v any) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' && json.Valid(trimmed) {
		return errNotObject
	}
	return json.Unmarshal(trimmed, v) // a syntax error stays one
}

// replyError tells a reply of the wrong shape (Foreman's "invalid response") from one
// that is not JSON at all (a parse error, which Foreman reports as a communication
// failure).
func replyError(proxyURL, path string, err error) error {
	if errors.Is(err, errNotObject) {
		return &DiscoveryError{Messages: []string{msgInvalidReply}}
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &DiscoveryError{Messages: []string{msgInvalidReply}}
	}
	return unreachable(proxyURL, path, fmt.Errorf("invalid JSON: %w", err))
}

// unreachable is Foreman's pair of messages for a proxy it could not ask, the cause
// worded like its ProxyException: "Unable to detect features (<cause>) for proxy <url>".
func unreachable(proxyURL, path string, err error) error {
	reason := cause(err).Error()
	var pe *ProxyError
	if errors.As(err, &pe) {
		reason = pe.Reason()
	}
	target, uerr := endpoint(proxyURL, path)
	if uerr != nil {
		target = proxyURL
	}
	detail := fmt.Sprintf("Unable to detect features (%s) for proxy %s", reason, target)
	return &DiscoveryError{Messages: []string{fmt.Sprintf(msgUnreachable, detail), msgCheckProxy}}
}

// stringList keeps the strings of a JSON array; anything else gives an empty list.
func stringList(v any) []string {
	out := []string{}
	list, _ := v.([]any)
	for _, item := range list {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// object returns a JSON object, or an empty one for anything else.
func object(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// toSentence joins names as Rails' Array#to_sentence does: "a", "a and b", "a, b, and c".
func toSentence(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + ", and " + names[len(names)-1]
}
