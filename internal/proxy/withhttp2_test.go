//go:build !nethttpomithttp2

package proxy

// httpOmitsHTTP2 is set when the tests are built as build-proxy.sh builds
// the proxy, without net/http's HTTP/2.
const httpOmitsHTTP2 = false
