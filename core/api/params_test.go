package api

import (
	"encoding/json"
	"testing"
)

func TestOptID(t *testing.T) {
	var in struct {
		A, B, C, D optID
		L          ids
	}
	if err := json.Unmarshal([]byte(`{"A":7,"B":"12","C":null,"L":[1,"2",null]}`), &in); err != nil {
		t.Fatal(err)
	}
	if !in.A.Set || *in.A.ID != 7 || *in.B.ID != 12 || !in.C.Set || in.C.ID != nil || in.D.Set || len(in.L) != 2 || in.L[1] != 2 {
		t.Fatalf("%+v", in)
	}
	for _, bad := range []string{`{"A":0}`, `{"A":-1}`, `{"A":"x"}`, `{"A":1.5}`, `{"A":true}`, `{"L":[0]}`, `{"L":"1"}`} {
		if err := json.Unmarshal([]byte(bad), &in); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzOptID(f *testing.F) {
	for _, s := range []string{`1`, `"2"`, `null`, `""`, `-3`, `"9223372036854775808"`, `[1]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var o optID
		if err := json.Unmarshal([]byte(s), &o); err == nil && o.ID != nil && *o.ID <= 0 {
			t.Fatalf("%q gave id %d", s, *o.ID)
		}
	})
}
