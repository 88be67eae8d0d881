package entry

import (
	"strings"
	"testing"
	"unsafe"
)

// TestTokenCacheKeepsItsOwnToken: a token is a substring of a request's
// header, whose memory it shares with the head it came in; the cache,
// which outlives the request, keeps a copy instead.
func TestTokenCacheKeepsItsOwnToken(t *testing.T) {
	head := "GET / HTTP/1.1\r\nAuthorization: Bearer aaa.bbb.ccc\r\n\r\n"
	i := strings.Index(head, "aaa")
	token := head[i : i+len("aaa.bbb.ccc")]
	var tc tokenCache
	ks := &KeySet{}
	tc.put(ks, token, claims{"sub": "x"})
	if _, ok := tc.get(ks, token); !ok {
		t.Fatal("the token put is not found")
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(head)))
	for k := range tc.m {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(k))); p >= start && p < start+uintptr(len(head)) {
			t.Errorf("the cache's token %q keeps the request head's memory", k)
		}
	}
}
