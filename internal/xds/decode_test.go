package xds

import (
	"testing"
)

// TestDecodeReusesUnchanged: a resource sent again with the same bytes is
// the one decoded before; a changed or new one is decoded afresh.
func TestDecodeReusesUnchanged(t *testing.T) {
	res1 := compiled(t, baseDir)
	res2 := compiled(t, baseDir, fallbackDir) // adds fallback clusters
	first, err := decode(clusters, response(t, res1, clusters), &typeState{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := decode(clusters, response(t, res2, clusters), &first)
	if err != nil {
		t.Fatal(err)
	}
	reused, fresh := 0, 0
	for name, r := range second.items {
		switch {
		case first.items[name] == r:
			reused++
		case first.items[name] != nil:
			t.Errorf("cluster %s, which the fallback leaves as it is, was decoded again", name)
		default:
			fresh++
		}
	}
	if reused != len(first.items) || fresh != len(second.items)-len(first.items) || fresh == 0 {
		t.Errorf("reused %d of %d, decoded %d new of %d", reused, len(first.items), fresh, len(second.items))
	}
}
