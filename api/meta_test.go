package api

import (
	"encoding/json"
	"testing"
)

// TestIntOrStringJSON: a number is written as a number, a name as a
// string, as Kubernetes writes them.
func TestIntOrStringJSON(t *testing.T) {
	for _, tc := range []struct {
		v    IntOrString
		want string
	}{{IntOrString{Int: 8000}, `8000`}, {IntOrString{Str: "http"}, `"http"`}, {IntOrString{Str: "8000x"}, `"8000x"`}} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc.v, b, err, tc.want)
		}
		var back IntOrString
		if err := json.Unmarshal(b, &back); err != nil || back != tc.v {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, tc.v)
		}
	}
}
