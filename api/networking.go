package api

// Gateway is networking.istio.io Gateway: the ports and hosts an ingress
// gateway proxy, chosen by Selector, serves.
type Gateway struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     GatewaySpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// GatewaySpec is the body of a Gateway.
type GatewaySpec struct {
	// Selector picks the gateway proxies by their labels.
	Selector map[string]string `json:"selector,omitempty"`
	Servers  []Server          `json:"servers"`
}

// Server is one port of a Gateway and the hosts it serves there.
type Server struct {
	Port  Port     `json:"port"`
	Hosts []string `json:"hosts"`
	Name  string   `json:"name,omitempty"`
	Bind  string   `json:"bind,omitempty"`
	// TLS is the server's TLS: how it terminates TLS for HTTPS ports, or,
	// on a plain HTTP port, httpsRedirect alone.
	TLS *ServerTLSSettings `json:"tls,omitempty"`
	_   struct{}           `lanemesh:"unsupported=defaultEndpoint"`
}

// ServerTLSSettings is how a Gateway server terminates TLS (Istio's
// ServerTLSSettings).
//
// Mode SIMPLE presents the certificate; MUTUAL also requires a client
// certificate signed by CaCertificates, and OPTIONAL_MUTUAL checks one if
// the client sends it. The certificate comes from files (ServerCertificate,
// PrivateKey, CaCertificates: PEM paths as the gateway proxy sees them), or
// from CredentialName: in local mode the directory
// `<credentials-dir>/<credentialName>/` holding tls.crt, tls.key and, for
// MUTUAL, ca.crt (or `<credentials-dir>/<credentialName>-cacert/ca.crt`, as
// Istio looks for a `-cacert` Secret). In Kubernetes mode it is the Secret
// of that name in the gateway proxy's namespace (keys tls.crt/tls.key/ca.crt
// or cert/key/cacert), as in Istio; a control plane given --credentials-dir
// reads the directory there too.
// The files are read again when they change, so certificates rotate
// without a restart.
//
// Several servers on one port with different hosts each present their own
// certificate, chosen by the client's SNI. PASSTHROUGH (the default
// mode), AUTO_PASSTHROUGH and ISTIO_MUTUAL are valid Istio but need TLS
// routing or mesh identities, which lanemesh does not have: they are
// refused with LM0003.
type ServerTLSSettings struct {
	// HTTPSRedirect answers plain-HTTP requests with 301 to the same URL
	// over https.
	HTTPSRedirect     bool   `json:"httpsRedirect,omitempty"`
	Mode              string `json:"mode,omitempty"`
	ServerCertificate string `json:"serverCertificate,omitempty"`
	PrivateKey        string `json:"privateKey,omitempty"`
	CACertificates    string `json:"caCertificates,omitempty"`
	CredentialName    string `json:"credentialName,omitempty"`
	// SubjectAltNames, VerifyCertificateSpki and VerifyCertificateHash
	// restrict, for MUTUAL, which client certificates are accepted: one of
	// the SANs, one of the base64 SHA-256 public key hashes, one of the
	// hex SHA-256 certificate hashes.
	SubjectAltNames       []string `json:"subjectAltNames,omitempty"`
	VerifyCertificateSpki []string `json:"verifyCertificateSpki,omitempty"`
	VerifyCertificateHash []string `json:"verifyCertificateHash,omitempty"`
	// MinProtocolVersion and MaxProtocolVersion: TLS_AUTO, TLSV1_0,
	// TLSV1_1, TLSV1_2 or TLSV1_3. Istio's defaults: 1.2 to 1.3.
	MinProtocolVersion string `json:"minProtocolVersion,omitempty"`
	MaxProtocolVersion string `json:"maxProtocolVersion,omitempty"`
	// CipherSuites are OpenSSL-style names (ECDHE-RSA-AES128-GCM-SHA256);
	// they apply to TLS 1.2 and below.
	CipherSuites []string `json:"cipherSuites,omitempty"`

	_ struct{} `lanemesh:"unsupported=caCrl"`
	_ struct{} `lanemesh:"unsupported=credentialNames"`
	_ struct{} `lanemesh:"unsupported=tlsCertificates"`
	_ struct{} `lanemesh:"unsupported=caCertCredentialName"`
	_ struct{} `lanemesh:"unsupported=insecureSkipVerify"`
}

// Port is a Gateway or ServiceEntry port.
type Port struct {
	Number     uint32 `json:"number"`
	Protocol   string `json:"protocol,omitempty"`
	Name       string `json:"name,omitempty"`
	TargetPort uint32 `json:"targetPort,omitempty"`
}

// VirtualService is networking.istio.io VirtualService: how requests for
// some hosts are routed.
type VirtualService struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta         `json:"metadata"`
	Spec     VirtualServiceSpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// VirtualServiceSpec is the body of a VirtualService.
type VirtualServiceSpec struct {
	Hosts []string `json:"hosts"`
	// Gateways binds the routes to gateways ("ns/name" or "name" in the
	// VirtualService's namespace) and, with the reserved name "mesh", to
	// every sidecar. Empty means "mesh".
	Gateways []string    `json:"gateways,omitempty"`
	HTTP     []HTTPRoute `json:"http,omitempty"`
	ExportTo []string    `json:"exportTo,omitempty"`

	_ struct{} `lanemesh:"unsupported=tcp"`
	_ struct{} `lanemesh:"unsupported=tls"`
}

// HTTPRoute is one rule of a VirtualService. Rules are tried in order and the
// first whose Match matches wins; an empty Match matches everything.
type HTTPRoute struct {
	Name    string                 `json:"name,omitempty"`
	Match   []HTTPMatchRequest     `json:"match,omitempty"`
	Route   []HTTPRouteDestination `json:"route,omitempty"`
	Rewrite *HTTPRewrite           `json:"rewrite,omitempty"`
	Timeout *Duration              `json:"timeout,omitempty"`
	Retries *HTTPRetry             `json:"retries,omitempty"`
	Fault   *HTTPFaultInjection    `json:"fault,omitempty"`
	Headers *Headers               `json:"headers,omitempty"`
	// Delegate hands the requests this rule matches to the rules of
	// another VirtualService, one without hosts, merged under this rule's
	// match (Istio's delegate VirtualServices). A rule with Delegate has no
	// Route.
	Delegate *Delegate `json:"delegate,omitempty"`
	// Redirect answers with a redirect instead of forwarding.
	Redirect *HTTPRedirect `json:"redirect,omitempty"`
	// DirectResponse answers with a fixed status and body instead of
	// forwarding.
	DirectResponse *HTTPDirectResponse `json:"directResponse,omitempty"`
	// Mirror sends a copy of each request to another destination as well
	// (Envoy's shadowing): fire and forget, its response discarded, its
	// Host (authority) suffixed with "-shadow" ("mockb-shadow:8000"). The
	// copy never delays or fails the request itself; a request whose body
	// is too large to buffer (over 64 KiB) is not mirrored. Use Mirror or
	// Mirrors, not both. Without a port, the copy goes to the port the
	// request was sent to (at a gateway, to the service's only port if it
	// has one), as in Istio: name the port of a mirror service that
	// listens elsewhere.
	Mirror *Destination `json:"mirror,omitempty"`
	// MirrorPercentage is the share of requests Mirror copies, 0–100
	// (fractions allowed); unset means 100, 0 turns mirroring off.
	MirrorPercentage *Percent `json:"mirrorPercentage,omitempty"`
	// MirrorPercent is the deprecated whole-number form of
	// MirrorPercentage, used only when MirrorPercentage is unset.
	MirrorPercent *uint32 `json:"mirrorPercent,omitempty"`
	// Mirrors copies each request to several destinations, each with its
	// own percentage, as Mirror does for one.
	Mirrors []HTTPMirrorPolicy `json:"mirrors,omitempty"`
	// CorsPolicy answers browsers' CORS preflight requests and adds the
	// Access-Control-* headers to responses, as Envoy's CORS filter does.
	CorsPolicy *CorsPolicy `json:"corsPolicy,omitempty"`

	// Origin is where a rule was written when delegation moved it (see
	// config.ResolveDelegates): explain and the route metadata name the
	// rule the user wrote, not its place in the merged list. Nil for a
	// rule in its own VirtualService.
	Origin *RuleOrigin `json:"-"`
}

// HTTPMirrorPolicy is one mirror destination and the share of requests
// copied to it (unset means 100%, 0 none).
type HTTPMirrorPolicy struct {
	Destination *Destination `json:"destination"`
	Percentage  *Percent     `json:"percentage,omitempty"`
}

// CorsPolicy is a route's Cross-Origin Resource Sharing policy.
//
// A request with an Origin header that AllowOrigins matches is a CORS
// request. A preflight (OPTIONS with Origin and
// Access-Control-Request-Method) is answered by the proxy itself with 200
// and Access-Control-Allow-Origin (the request's origin),
// -Allow-Methods, -Allow-Headers, -Max-Age and -Allow-Credentials; any
// other CORS request is forwarded, and its response gets
// Access-Control-Allow-Origin, -Allow-Credentials and -Expose-Headers.
// A request whose origin does not match gets no CORS header at all; a
// preflight from such an origin is forwarded to the service, or, with
// UnmatchedPreflights IGNORE, answered 200 by the proxy without
// Access-Control-Allow-Origin, so the browser refuses it. Rules that
// redirect or answer directly get no CORS handling (Envoy's rule).
type CorsPolicy struct {
	// AllowOrigins match the Origin header (exact, prefix or regex). An
	// entry that matches "*" allows every origin.
	AllowOrigins []StringMatch `json:"allowOrigins,omitempty"`
	// AllowOrigin is the deprecated list of exact origins, used only when
	// AllowOrigins is unset.
	AllowOrigin   []string  `json:"allowOrigin,omitempty"`
	AllowMethods  []string  `json:"allowMethods,omitempty"`
	AllowHeaders  []string  `json:"allowHeaders,omitempty"`
	ExposeHeaders []string  `json:"exposeHeaders,omitempty"`
	MaxAge        *Duration `json:"maxAge,omitempty"`
	// AllowCredentials adds Access-Control-Allow-Credentials: true.
	AllowCredentials *bool `json:"allowCredentials,omitempty"`
	// UnmatchedPreflights is FORWARD (the default; UNSPECIFIED means it)
	// or IGNORE.
	UnmatchedPreflights string `json:"unmatchedPreflights,omitempty"`
}

// HTTPRedirect is Istio's redirect: the Location is the request's URL with
// the parts set here replaced. RedirectCode is 301 when zero.
type HTTPRedirect struct {
	URI           string `json:"uri,omitempty"`
	Authority     string `json:"authority,omitempty"`
	Port          uint32 `json:"port,omitempty"`
	DerivePort    string `json:"derivePort,omitempty"` // FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT
	Scheme        string `json:"scheme,omitempty"`
	RedirectCode  uint32 `json:"redirectCode,omitempty"`
	PrefixRewrite string `json:"prefixRewrite,omitempty"`
}

// HTTPDirectResponse answers with Status and an optional body.
type HTTPDirectResponse struct {
	Status uint32    `json:"status"`
	Body   *HTTPBody `json:"body,omitempty"`
}

// HTTPBody is a direct response's body: a string, or bytes in base64.
type HTTPBody struct {
	String string `json:"string,omitempty"`
	Bytes  string `json:"bytes,omitempty"`
}

// Delegate names a delegate VirtualService; Namespace defaults to the
// namespace of the VirtualService that names it.
type Delegate struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// HTTPMatchRequest is one set of conditions; all set fields must hold.
type HTTPMatchRequest struct {
	Name           string                 `json:"name,omitempty"`
	URI            *StringMatch           `json:"uri,omitempty"`
	Scheme         *StringMatch           `json:"scheme,omitempty"`
	Method         *StringMatch           `json:"method,omitempty"`
	Authority      *StringMatch           `json:"authority,omitempty"`
	Headers        map[string]StringMatch `json:"headers,omitempty"`
	WithoutHeaders map[string]StringMatch `json:"withoutHeaders,omitempty"`
	QueryParams    map[string]StringMatch `json:"queryParams,omitempty"`
	Port           uint32                 `json:"port,omitempty"`
	// SourceLabels restricts the rule to callers whose workload has these
	// labels. It is resolved when a sidecar's configuration is compiled,
	// never from the request.
	SourceLabels    map[string]string `json:"sourceLabels,omitempty"`
	SourceNamespace string            `json:"sourceNamespace,omitempty"`
	Gateways        []string          `json:"gateways,omitempty"`
	IgnoreURICase   bool              `json:"ignoreUriCase,omitempty"`

	_ struct{} `lanemesh:"ignored=statPrefix"`
}

// RuleOrigin is a rule's VirtualService ("namespace/name") and index in it.
type RuleOrigin struct {
	VirtualService string
	Index          int
}

// StringMatch matches a string exactly, by prefix, or by an RE2 regular
// expression that must match the whole string. At most one is set; none
// (`{}`) means "present" for a header or query parameter. They are
// pointers because a set empty string means something: `exact: ""` matches
// an empty value, where an unset match matches any.
type StringMatch struct {
	Exact  *string `json:"exact,omitempty"`
	Prefix *string `json:"prefix,omitempty"`
	Regex  *string `json:"regex,omitempty"`
}

// Match kinds, as StringMatch.Kind names them.
const (
	MatchExact  = "exact"
	MatchPrefix = "prefix"
	MatchRegex  = "regex"
)

// Kind returns the kind of match set (MatchExact, MatchPrefix or
// MatchRegex; the first, should several be) and its value; "" when none
// is, or m is nil.
func (m *StringMatch) Kind() (kind, value string) {
	switch {
	case m == nil:
		return "", ""
	case m.Exact != nil:
		return MatchExact, *m.Exact
	case m.Prefix != nil:
		return MatchPrefix, *m.Prefix
	case m.Regex != nil:
		return MatchRegex, *m.Regex
	}
	return "", ""
}

// GetExact, GetPrefix and GetRegex return the value, "" when unset (as
// protobuf's getters, so code ported from Istio reads the same).
func (m *StringMatch) GetExact() string {
	if m == nil || m.Exact == nil {
		return ""
	}
	return *m.Exact
}

func (m *StringMatch) GetPrefix() string {
	if m == nil || m.Prefix == nil {
		return ""
	}
	return *m.Prefix
}

func (m *StringMatch) GetRegex() string {
	if m == nil || m.Regex == nil {
		return ""
	}
	return *m.Regex
}

// Exact, Prefix and Regex return a StringMatch of that kind.
func Exact(s string) StringMatch  { return StringMatch{Exact: &s} }
func Prefix(s string) StringMatch { return StringMatch{Prefix: &s} }
func Regex(s string) StringMatch  { return StringMatch{Regex: &s} }

// HTTPRouteDestination is a weighted destination, with ASM's fallback.
type HTTPRouteDestination struct {
	Destination Destination `json:"destination"`
	Weight      int32       `json:"weight,omitempty"`
	Headers     *Headers    `json:"headers,omitempty"`
	// Fallback names the destination that takes the request when
	// Destination has no healthy endpoint (Alibaba Cloud Service Mesh's
	// traffic-lane extension).
	Fallback *Fallback `json:"fallback,omitempty"`
}

// Fallback is ASM's `fallback: {target: {host, subset}}`.
type Fallback struct {
	Target Destination `json:"target"`
}

// Destination is a service host, an optional subset and an optional port.
type Destination struct {
	Host   string        `json:"host"`
	Subset string        `json:"subset,omitempty"`
	Port   *PortSelector `json:"port,omitempty"`
}

// PortSelector picks a port of the destination service by number.
type PortSelector struct {
	Number uint32 `json:"number"`
}

// HTTPRewrite rewrites the path (its matched prefix, or by regex) or the
// authority before forwarding.
type HTTPRewrite struct {
	URI             string        `json:"uri,omitempty"`
	URIRegexRewrite *RegexRewrite `json:"uriRegexRewrite,omitempty"`
	Authority       string        `json:"authority,omitempty"`
}

// RegexRewrite replaces every match of Match (RE2) in the path with
// Rewrite, where \1 to \9 stand for Match's groups and \0 for the match.
type RegexRewrite struct {
	Match   string `json:"match,omitempty"`
	Rewrite string `json:"rewrite,omitempty"`
}

// HTTPRetry is a route's retry policy.
type HTTPRetry struct {
	Attempts      int32     `json:"attempts"`
	PerTryTimeout *Duration `json:"perTryTimeout,omitempty"`
	RetryOn       string    `json:"retryOn,omitempty"`
	// RetryIgnorePreviousHosts, true unless set false, sends a retry to
	// another host than the attempt before.
	RetryIgnorePreviousHosts *bool `json:"retryIgnorePreviousHosts,omitempty"`
	// Backoff is the base interval of the exponential back-off between
	// attempts (25ms unless set).
	Backoff *Duration `json:"backoff,omitempty"`

	_ struct{} `lanemesh:"ignored=retryRemoteLocalities"`
}

// HTTPFaultInjection delays or aborts a share of requests, to rehearse
// failures.
type HTTPFaultInjection struct {
	Delay *struct {
		Percentage *Percent  `json:"percentage,omitempty"`
		FixedDelay *Duration `json:"fixedDelay"`
		Percent    int32     `json:"percent,omitempty"`
	} `json:"delay,omitempty"`
	Abort *struct {
		Percentage *Percent `json:"percentage,omitempty"`
		HTTPStatus *int32   `json:"httpStatus,omitempty"`

		_ struct{} `lanemesh:"unsupported=grpcStatus"`
		_ struct{} `lanemesh:"unsupported=http2Error"`
	} `json:"abort,omitempty"`
}

// Headers manipulates request and response headers.
type Headers struct {
	Request  *HeaderOperations `json:"request,omitempty"`
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations sets, adds and removes headers.
type HeaderOperations struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// DestinationRule is networking.istio.io DestinationRule: the subsets of a
// host and the policy for traffic to it.
type DestinationRule struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta          `json:"metadata"`
	Spec     DestinationRuleSpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// DestinationRuleSpec is the body of a DestinationRule.
type DestinationRuleSpec struct {
	Host          string         `json:"host"`
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
	Subsets       []Subset       `json:"subsets,omitempty"`
	ExportTo      []string       `json:"exportTo,omitempty"`

	_ struct{} `lanemesh:"unsupported=workloadSelector"`
}

// Subset is a named group of a host's endpoints, chosen by labels.
type Subset struct {
	Name          string            `json:"name"`
	Labels        map[string]string `json:"labels,omitempty"`
	TrafficPolicy *TrafficPolicy    `json:"trafficPolicy,omitempty"`
}

// TrafficPolicy is load balancing, connection limits and outlier detection.
type TrafficPolicy struct {
	LoadBalancer     *LoadBalancer     `json:"loadBalancer,omitempty"`
	ConnectionPool   *ConnectionPool   `json:"connectionPool,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// PortLevelSettings replace the policy for one port of the service:
	// what a port's entry leaves unset takes the defaults, not the
	// policy's own settings (Istio's rule).
	PortLevelSettings []PortTrafficPolicy `json:"portLevelSettings,omitempty"`
	// TLS is how the proxy originates TLS to the upstream.
	TLS *ClientTLSSettings `json:"tls,omitempty"`

	_ struct{} `lanemesh:"unsupported=tunnel"`
	_ struct{} `lanemesh:"unsupported=proxyProtocol"`
	_ struct{} `lanemesh:"unsupported=retryBudget"`
}

// PortTrafficPolicy is the traffic policy of one service port.
type PortTrafficPolicy struct {
	Port             *PortSelector      `json:"port,omitempty"`
	LoadBalancer     *LoadBalancer      `json:"loadBalancer,omitempty"`
	ConnectionPool   *ConnectionPool    `json:"connectionPool,omitempty"`
	OutlierDetection *OutlierDetection  `json:"outlierDetection,omitempty"`
	TLS              *ClientTLSSettings `json:"tls,omitempty"`
}

// ClientTLSSettings is how a proxy originates TLS to an upstream (Istio's
// ClientTLSSettings): mode DISABLE (the default) sends plain text, SIMPLE
// verifies the server, MUTUAL also presents ClientCertificate and
// PrivateKey. The server's certificate is verified against CaCertificates
// (PEM file paths as the proxy sees them), or the system's roots when
// unset, unless InsecureSkipVerify; its SANs must include one of
// SubjectAltNames, or, when none are listed, the SNI. SNI defaults to the
// destination's host. CredentialName names the credential as for a
// Gateway server (tls.crt/tls.key/ca.crt under the credentials
// directory). ISTIO_MUTUAL needs mesh
// identities, which lanemesh does not issue: it is refused with LM0003.
type ClientTLSSettings struct {
	Mode               string   `json:"mode,omitempty"`
	ClientCertificate  string   `json:"clientCertificate,omitempty"`
	PrivateKey         string   `json:"privateKey,omitempty"`
	CACertificates     string   `json:"caCertificates,omitempty"`
	CredentialName     string   `json:"credentialName,omitempty"`
	SubjectAltNames    []string `json:"subjectAltNames,omitempty"`
	SNI                string   `json:"sni,omitempty"`
	InsecureSkipVerify *bool    `json:"insecureSkipVerify,omitempty"`

	_ struct{} `lanemesh:"unsupported=caCrl"`
}

// LoadBalancer picks the algorithm: Simple (ROUND_ROBIN, LEAST_REQUEST,
// RANDOM) or ConsistentHash, not both.
type LoadBalancer struct {
	Simple string `json:"simple,omitempty"`
	// ConsistentHash gives soft session affinity: requests with the same
	// key go to the same endpoint while the endpoints stay the same.
	ConsistentHash *ConsistentHashLB `json:"consistentHash,omitempty"`

	_ struct{} `lanemesh:"unsupported=localityLbSetting"`
	_ struct{} `lanemesh:"unsupported=zoneAwareLbSetting"`
	_ struct{} `lanemesh:"unsupported=warmupDurationSecs"`
	_ struct{} `lanemesh:"unsupported=warmup"`
}

// ConsistentHashLB hashes a request key onto a ring (RING_HASH, the
// default) or a Maglev table. The key is at most one of HTTPHeaderName,
// HTTPCookie, UseSourceIP and HTTPQueryParameterName; a request without
// it goes to a random endpoint. When an endpoint leaves, mostly its own
// keys move; an ejected or unhealthy endpoint's keys go to the next
// endpoint on the ring (the next table slot for Maglev).
type ConsistentHashLB struct {
	HTTPHeaderName string `json:"httpHeaderName,omitempty"`
	// HTTPCookie hashes a cookie. When the request lacks it and TTL is
	// set, the proxy makes one up, hashes it, and sets it on the response
	// (Set-Cookie: name="value"; Max-Age=ttl; Path=path; HttpOnly).
	HTTPCookie             *HTTPCookie `json:"httpCookie,omitempty"`
	UseSourceIP            bool        `json:"useSourceIp,omitempty"`
	HTTPQueryParameterName string      `json:"httpQueryParameterName,omitempty"`
	// RingHash and Maglev pick the algorithm (one at most), with its size.
	RingHash *RingHashConfig `json:"ringHash,omitempty"`
	Maglev   *MaglevConfig   `json:"maglev,omitempty"`
	// MinimumRingSize is the deprecated form of ringHash.minimumRingSize.
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
}

// HTTPCookie names the cookie a consistent hash reads. Path, TTL (as
// Max-Age, in whole seconds) and Attributes (written "; name=value", or
// "; name" without a value, e.g. SameSite=Strict or Secure) go into the
// Set-Cookie of a cookie the proxy makes up.
type HTTPCookie struct {
	Name       string                `json:"name"`
	Path       string                `json:"path,omitempty"`
	TTL        *Duration             `json:"ttl,omitempty"`
	Attributes []HTTPCookieAttribute `json:"attributes,omitempty"`
}

// HTTPCookieAttribute is one attribute of a made-up cookie; names are
// unique.
type HTTPCookieAttribute struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// RingHashConfig sizes the hash ring (Envoy's default minimum is 1024
// entries).
type RingHashConfig struct {
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
}

// MaglevConfig sizes the Maglev table: a prime below 5000011 (Envoy's
// default is 65537).
type MaglevConfig struct {
	TableSize uint64 `json:"tableSize,omitempty"`
}

// ConnectionPool limits connections and requests to a host.
type ConnectionPool struct {
	TCP *struct {
		MaxConnections int32     `json:"maxConnections,omitempty"`
		ConnectTimeout *Duration `json:"connectTimeout,omitempty"`
		// TCPKeepalive and MaxConnectionDuration are validated as Istio
		// validates them, and not applied: lanemesh's upstream connections
		// keep Go's TCP keep-alive, and last while they are used.
		TCPKeepalive *struct {
			Probes   uint32    `json:"probes,omitempty"`
			Time     *Duration `json:"time,omitempty"`
			Interval *Duration `json:"interval,omitempty"`
		} `json:"tcpKeepalive,omitempty"`
		MaxConnectionDuration *Duration `json:"maxConnectionDuration,omitempty"`

		_ struct{} `lanemesh:"unsupported=idleTimeout"`
	} `json:"tcp,omitempty"`
	HTTP *struct {
		HTTP1MaxPendingRequests  int32     `json:"http1MaxPendingRequests,omitempty"`
		HTTP2MaxRequests         int32     `json:"http2MaxRequests,omitempty"`
		MaxRequestsPerConnection int32     `json:"maxRequestsPerConnection,omitempty"`
		MaxRetries               int32     `json:"maxRetries,omitempty"`
		IdleTimeout              *Duration `json:"idleTimeout,omitempty"`
		// H2UpgradePolicy, UseClientProtocol and MaxConcurrentStreams are
		// validated as Istio validates them, and have no effect: lanemesh
		// speaks HTTP/1.1 to upstreams.
		H2UpgradePolicy      string `json:"h2UpgradePolicy,omitempty"`
		UseClientProtocol    bool   `json:"useClientProtocol,omitempty"`
		MaxConcurrentStreams int32  `json:"maxConcurrentStreams,omitempty"`

		_ struct{} `lanemesh:"unsupported=http2KeepAlive"`
	} `json:"http,omitempty"`
}

// OutlierDetection ejects endpoints that keep failing.
type OutlierDetection struct {
	Consecutive5xxErrors           *uint32   `json:"consecutive5xxErrors,omitempty"`
	ConsecutiveGatewayErrors       *uint32   `json:"consecutiveGatewayErrors,omitempty"`
	ConsecutiveLocalOriginFailures *uint32   `json:"consecutiveLocalOriginFailures,omitempty"`
	SplitExternalLocalOriginErrors bool      `json:"splitExternalLocalOriginErrors,omitempty"`
	Interval                       *Duration `json:"interval,omitempty"`
	BaseEjectionTime               *Duration `json:"baseEjectionTime,omitempty"`
	MaxEjectionPercent             int32     `json:"maxEjectionPercent,omitempty"`
	MinHealthPercent               int32     `json:"minHealthPercent,omitempty"`

	_ struct{} `lanemesh:"unsupported=consecutiveErrors"`
	_ struct{} `lanemesh:"unsupported=outlierDetectionHttpErrorCodes"`
}

// ServiceEntry is networking.istio.io ServiceEntry: a service lanemesh's
// registry does not otherwise know, with static endpoints or a selector over
// WorkloadEntries.
type ServiceEntry struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta       `json:"metadata"`
	Spec     ServiceEntrySpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// ServiceEntrySpec is the body of a ServiceEntry.
type ServiceEntrySpec struct {
	Hosts            []string            `json:"hosts"`
	Addresses        []string            `json:"addresses,omitempty"`
	Ports            []Port              `json:"ports,omitempty"`
	Location         string              `json:"location,omitempty"`
	Resolution       string              `json:"resolution,omitempty"`
	Endpoints        []WorkloadEntrySpec `json:"endpoints,omitempty"`
	WorkloadSelector *struct {
		Labels map[string]string `json:"labels"`
	} `json:"workloadSelector,omitempty"`
	ExportTo []string `json:"exportTo,omitempty"`

	_ struct{} `lanemesh:"ignored=subjectAltNames"`
}

// WorkloadEntry is networking.istio.io WorkloadEntry: one workload outside
// the local runner (a VM, a process started by hand).
type WorkloadEntry struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta        `json:"metadata"`
	Spec     WorkloadEntrySpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// WorkloadEntrySpec is the body of a WorkloadEntry, and a ServiceEntry's
// inline endpoint.
type WorkloadEntrySpec struct {
	Address string            `json:"address"`
	Ports   map[string]uint32 `json:"ports,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Weight  uint32            `json:"weight,omitempty"`

	_ struct{} `lanemesh:"ignored=network"`
	_ struct{} `lanemesh:"ignored=locality"`
	_ struct{} `lanemesh:"ignored=serviceAccount"`
}
