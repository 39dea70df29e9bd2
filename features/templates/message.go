package templates

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// inspect writes params the way the Ruby proxy's messages show them
// ({"kind"=>"provision", "token"=>"..."}), keys sorted so messages are stable.
func inspect(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		values := params[k]
		var v string
		if len(values) == 1 {
			v = strconv.Quote(values[0])
		} else {
			quoted := make([]string, len(values))
			for j, s := range values {
				quoted[j] = strconv.Quote(s)
			}
			v = "[" + strings.Join(quoted, ", ") + "]"
		}
		parts[i] = strconv.Quote(k) + "=>" + v
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// maxReasonBytes bounds how much of Foreman's error text goes into our message.
const maxReasonBytes = 512

// describe names Foreman's answer: status line, plus its text when Foreman explained
// itself in plain text ("unattended: unable to find a host that matches ...").
func describe(status int, contentType string, body []byte) string {
	out := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if !strings.HasPrefix(contentType, "text/plain") {
		return out
	}
	reason := strings.TrimSpace(string(body))
	if len(reason) > maxReasonBytes {
		reason = strings.ToValidUTF8(reason[:maxReasonBytes], "") + "..."
	}
	if reason == "" {
		return out
	}
	return out + ": " + reason
}
