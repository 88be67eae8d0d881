// Package xdsrules checks the xDS resources a proxy receives against
// Envoy's validation rules (the protoc-gen-validate annotations of its
// protos), for the fields the proxy reads, so that an invalid resource is
// refused (NACKed) with an error that names the resource's field and rule,
// as go-control-plane's generated Validate methods would.
//
// The generated Validate methods check every field of every message a
// resource can hold, and linking them costs the proxy about 3 MB of
// resident binary; the proxy reads a small part of those fields. So the
// rules are written out here for the fields it reads, and nothing else
// links the generated ones. The rules are the annotations of
// go-control-plane's generated *.pb.validate.go files. internal/proxy's
// tests list the fields the proxy reads (testdata/read-fields.txt, checked
// against the code that links into the proxy) and hold these checks,
// together with the proxy's builders, to Validate's verdict on them
// (rules_diff_test.go: a table of invalid values, and a fuzzer that
// changes read fields of valid resources).
//
// What is not checked here, and why:
//
//   - Fields the proxy never reads: it ignores them, so their values cannot
//     reach traffic, whatever Envoy's rules on them say.
//   - Fields the proxy reads only to refuse them when set (a virtual host's
//     retry policy, a route's regex_rewrite, a cluster's
//     transport_socket_matches, a direct response's body other than
//     inline): the proxy's builders reject those resources whatever the
//     values, and their rejection reaches the NACK.
//   - Values the builders already refuse when they read them: an empty
//     route cluster name or weighted clusters that sum to nothing, a
//     direct response status outside 200-599, a redirect response code
//     without a status, a retry host predicate other than previous_hosts,
//     a listener filter other than the TLS inspector, a regular expression
//     that does not compile.
//   - Resources inside google.protobuf.Any (an HTTP connection manager, a
//     TLS context, the fault filter's config): Validate does not unpack
//     them either; the proxy's builders check what they read there. The
//     exception is the CORS filter's per-route CorsPolicy, which route
//     compilation unpacks and checks with CorsPolicy.
//
// Errors read as Validate's: "invalid Route.Match.Headers[0].Name: value
// length must be at least 1 runes", the field path in Go field names from
// the resource (or the part checked) down.
package xdsrules
