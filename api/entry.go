package api

// LaneEntryPolicy (lanemesh.io/v1alpha1) says who may enter a lane at a
// gateway: which requests may select a non-baseline lane with a lane header
// such as `x-asm-prefer-tag: v2`. A request that asks for a lane it is not
// allowed is not refused: it is served by the baseline, with the lane
// headers (and a `baggage` member of the same name) removed before routing,
// and it is counted and logged. Without a policy nothing changes, as in
// Alibaba Cloud Service Mesh, where lane entry is open until restricted.
//
// A policy applies to the gateway proxies its Selector picks, as Istio's
// workload selectors do: in the policy's own namespace, or in every
// namespace when the policy lives in the root namespace (istio-system).
// Sidecars are never selected: lanes are entered at the edge. Several
// policies may select one gateway; each then guards its own headers, and a
// request must pass all of them.
//
//	apiVersion: lanemesh.io/v1alpha1
//	kind: LaneEntryPolicy
//	metadata: {name: lane-entry, namespace: istio-system}
//	spec:
//	  selector: {matchLabels: {istio: ingressgateway}}
//	  laneHeaders: [x-asm-prefer-tag]
//	  baselineLanes: [v1]
//	  rules:
//	  - sourceCIDRs: [10.0.0.0/8]          # the office network: any lane
//	  - lanes: [v2, v3]                    # CI, with a token that names the lane
//	    jwt:
//	      issuer: https://ci.example.com
//	      audiences: [lanemesh]
//	      jwksUri: https://ci.example.com/.well-known/jwks.json
type LaneEntryPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta          `json:"metadata"`
	Spec     LaneEntryPolicySpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// LaneEntryPolicySpec is the body of a LaneEntryPolicy.
type LaneEntryPolicySpec struct {
	// Selector picks the gateway workloads by their labels. Nil or empty
	// matchLabels select every gateway in the policy's namespace (every
	// gateway, for a policy in istio-system).
	Selector *WorkloadSelector `json:"selector,omitempty"`
	// LaneHeaders are the request headers that select a lane, the lane
	// group's route headers (ASM's permissiveModeConfiguration.routeHeader).
	// Empty means [x-asm-prefer-tag], the tutorial's header. A `baggage`
	// member with one of these names (`baggage: x-asm-prefer-tag=v2`)
	// selects a lane too, and is guarded alike.
	LaneHeaders []string `json:"laneHeaders,omitempty"`
	// BaselineLanes are the lane values anyone may send: the baseline
	// (usually v1), which serves requests without a lane anyway. A request
	// without a lane header is never affected.
	BaselineLanes []string `json:"baselineLanes,omitempty"`
	// NumTrustedProxies is how many proxies in front of the gateway (load
	// balancers) append to X-Forwarded-For, as Istio's
	// gatewayTopology.numTrustedProxies: the client's address is the
	// NumTrustedProxies-th address from the right of the X-Forwarded-For
	// the gateway received, or the connection's peer address when it is
	// zero or the header holds fewer addresses. Addresses further left are
	// what the client wrote, and are never believed.
	NumTrustedProxies uint32 `json:"numTrustedProxies,omitempty"`
	// Rules allow a request into a lane: a request that asks for lanes
	// outside BaselineLanes enters them if, for each such lane, at least
	// one rule allows it. Within a rule every condition set must hold.
	Rules []LaneEntryRule `json:"rules"`
}

// WorkloadSelector picks workloads by their labels, as Istio's does.
type WorkloadSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// LaneEntryRule allows some requests into some lanes. A rule with neither
// SourceCIDRs nor JWT allows every request into its Lanes, which opens
// them to anyone: write one only for a lane that is meant to be public.
type LaneEntryRule struct {
	// Lanes are the lanes this rule admits to; empty means any lane.
	Lanes []string `json:"lanes,omitempty"`
	// SourceCIDRs are the client addresses allowed, as CIDRs
	// ("10.0.0.0/8", "2001:db8::/32") or single addresses ("192.0.2.7").
	// The client's address is the one NumTrustedProxies designates, as in
	// Istio's remoteIpBlocks.
	SourceCIDRs []string `json:"sourceCIDRs,omitempty"`
	// JWT requires a valid token, checked as Istio's RequestAuthentication
	// checks one, whose lane claim contains the requested lane.
	JWT *LaneEntryJWT `json:"jwt,omitempty"`
}

// LaneEntryJWT is how a token is found and checked, in the words of
// Istio's RequestAuthentication jwtRules. A token that is missing, fails
// to verify, is expired or not yet valid (beyond ClockSkew), has another
// issuer or none of the audiences, or whose claim does not contain the
// lane does not allow the request into the lane; the request is still
// served, by the baseline, never answered 401. The token itself is
// forwarded unchanged.
type LaneEntryJWT struct {
	// Issuer must equal the token's `iss` claim.
	Issuer string `json:"issuer"`
	// Audiences: the token's `aud` (a string or a list) must hold one of
	// them. Empty means the audience is not checked, as in Istio.
	Audiences []string `json:"audiences,omitempty"`
	// The keys that sign tokens, as a JSON Web Key Set: exactly one of
	// Jwks (the set itself, inline), JwksURI (an http or https URL the
	// gateway proxy fetches) or JwksFile (a path as the gateway proxy
	// sees it). Fetched and read sets are kept for JwksCacheDuration.
	// RSA keys of at least 2048 bits (RS256, RS384, RS512, PS256, PS384,
	// PS512) and EC keys on P-256 and P-384 (ES256, ES384) are accepted;
	// keys of other types in the set are skipped.
	Jwks     string `json:"jwks,omitempty"`
	JwksURI  string `json:"jwksUri,omitempty"`
	JwksFile string `json:"jwksFile,omitempty"`
	// JwksCacheDuration is how long a fetched or read key set is used
	// before it is fetched again; default 5m, Envoy's.
	JwksCacheDuration *Duration `json:"jwksCacheDuration,omitempty"`
	// FromHeaders and FromParams are where the token is looked for. With
	// neither, as in Istio: the Authorization header after "Bearer ", then
	// the access_token query parameter.
	FromHeaders []JWTHeader `json:"fromHeaders,omitempty"`
	FromParams  []string    `json:"fromParams,omitempty"`
	// LaneClaim is the claim that lists the lanes the token may enter: a
	// string ("v2") or a list of strings (["v2", "v3"]). Default "lane".
	LaneClaim string `json:"laneClaim,omitempty"`
	// ClockSkew is how far `exp` and `nbf` may be off; default 60s,
	// Envoy's.
	ClockSkew *Duration `json:"clockSkew,omitempty"`

	_ struct{} `lanemesh:"unsupported=fromCookies"`
	_ struct{} `lanemesh:"unsupported=outputPayloadToHeader"`
	_ struct{} `lanemesh:"unsupported=outputClaimToHeaders"`
	_ struct{} `lanemesh:"unsupported=forwardOriginalToken"`
}

// JWTHeader is a header a token is read from, after Prefix
// ("Bearer "), as in Istio's JWTHeader.
type JWTHeader struct {
	Name   string `json:"name"`
	Prefix string `json:"prefix,omitempty"`
}
