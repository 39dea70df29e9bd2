package respond

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// refusing is a field whose UnmarshalJSON refuses every value as the client's mistake.
type refusing struct{}

func (*refusing) UnmarshalJSON(data []byte) error {
	return &ValueError{Msg: string(data) + " is not a valid id"}
}

func TestDecodeBody(t *testing.T) {
	type in struct {
		Name   string    `json:"name"`
		Count  int       `json:"count"`
		Domain *refusing `json:"domain_id"`
	}
	for _, tc := range []struct {
		body, name string
		status     int
		message    string // error.message (400) or the first full message (422)
	}{
		{body: `{"host":{"name":"web"}}`, name: "web"},
		{body: `{"name":"bare"}`, name: "bare"},
		{body: ``, name: ""},
		{body: `[1]`, status: 400, message: "The request body is not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
		{body: `{"host":{"count":"many"}}`, status: 422, message: "Count is invalid (expected int, got a JSON string)"},
		{body: `{"host":{"domain_id":"abc"}}`, status: 422, message: `"abc" is not a valid id`},
		{body: `{"name":"` + strings.Repeat("x", MaxBody) + `"}`, status: 400, message: "The request body is larger than 10485760 bytes"},
	} {
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body)), rec)
		var got in
		handled, err := DecodeBody(c, &got, "host")
		if err != nil {
			t.Fatal(err)
		}
		if !handled {
			if tc.status != 0 || got.Name != tc.name {
				t.Errorf("%.40s: decoded %+v, want name %q or status %d", tc.body, got, tc.name, tc.status)
			}
			continue
		}
		var body struct {
			Error struct {
				Message      string   `json:"message"`
				FullMessages []string `json:"full_messages"`
			} `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &body)
		msg := body.Error.Message
		if rec.Code == 422 && len(body.Error.FullMessages) > 0 {
			msg = body.Error.FullMessages[0]
		}
		if rec.Code != tc.status || msg != tc.message {
			t.Errorf("%.40s: %d %q, want %d %q", tc.body, rec.Code, msg, tc.status, tc.message)
		}
	}
}
