package api

// This file holds Alibaba Cloud Service Mesh's traffic-lane kinds,
// istio.alibabacloud.com/v1 ASMSwimLaneGroup and ASMSwimLane, with the field
// names and meanings ASM documents, so that a lane group written for ASM
// applies to lanemesh unchanged. Both kinds are cluster-scoped, as in ASM.
//
// A lane group compiles into the DestinationRules and VirtualServices a user
// would otherwise write by hand: for each service of the group a
// DestinationRule with one subset per lane (named after the lane, selecting
// the lane's labelSelector) and a VirtualService that keeps each lane's
// requests in that lane; and one VirtualService on the group's ingress
// gateway that lets requests into the lanes.

// SwimLaneGroupLabel is the label that ties an ASMSwimLane to its
// ASMSwimLaneGroup: `swimlane-group: <group name>`.
const SwimLaneGroupLabel = "swimlane-group"

// ASMSwimLaneGroup declares the services that take part in traffic lanes and
// the gateway through which requests enter them.
type ASMSwimLaneGroup struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta           `json:"metadata"`
	Spec     ASMSwimLaneGroupSpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// ASMSwimLaneGroupSpec is the body of an ASMSwimLaneGroup.
type ASMSwimLaneGroupSpec struct {
	// Services are the Kubernetes services that take part in the lanes.
	Services []ClusterServiceRef `json:"services"`
	// Ingress names the gateway whose VirtualService lets requests into
	// the lanes, and how it picks a lane.
	Ingress SwimLaneGroupIngress `json:"ingress"`
	// IsPermissive selects permissive mode: a lane may hold only some of
	// the group's services, requests are routed by the lane they carry
	// (PermissiveModeConfiguration.RouteHeader) rather than by the caller's
	// labels, and a hop whose service is not in the lane goes to the
	// baseline lane and returns to its own lane on the next hop. In strict
	// mode (false, the default) every lane must hold every service and a
	// request stays with the callers of its lane.
	IsPermissive bool `json:"isPermissive,omitempty"`
	// PermissiveModeConfiguration is required in permissive mode.
	PermissiveModeConfiguration *PermissiveSwimLaneGroupConfiguration `json:"permissiveModeConfiguration,omitempty"`
	// DefaultTrafficPolicyPatch is merged into the trafficPolicy of every
	// generated DestinationRule: each field it sets replaces the generated
	// one.
	DefaultTrafficPolicyPatch *TrafficPolicy `json:"defaultTrafficPolicyPatch,omitempty"`
	// DefaultHTTPRoutePatch is merged into every generated route of the
	// services' VirtualServices: each field it sets (timeout, retries,
	// headers, fault...) replaces the generated one; match and route are
	// the group's and cannot be patched.
	DefaultHTTPRoutePatch *HTTPRoute `json:"defaultHttpRoutePatch,omitempty"`

	_ struct{} `lanemesh:"ignored=autoUpdate"`
}

// ClusterServiceRef names a service of the group.
type ClusterServiceRef struct {
	Name string `json:"name"`
	// Namespace defaults to "default".
	Namespace string `json:"namespace,omitempty"`
	// TrafficPolicyPatch is merged into this service's generated
	// DestinationRule, after the group's default patch.
	TrafficPolicyPatch *TrafficPolicy `json:"trafficPolicyPatch,omitempty"`
	// HTTPRoutePatch is merged into this service's generated routes, after
	// the group's default patch.
	HTTPRoutePatch *HTTPRoute `json:"httpRoutePatch,omitempty"`

	// A cluster reference names one cluster of an ASM instance that
	// manages several; lanemesh manages one.
	_ struct{} `lanemesh:"ignored=cluster"`
}

// SwimLaneGroupIngress is how requests enter the group's lanes.
type SwimLaneGroupIngress struct {
	Gateway SwimLaneGateway `json:"gateway"`
	// IngressRouting picks the strategy: each lane's ingressRules
	// (rule_based, the default) or a weighted split of the requests that
	// weightedRoutingRule matches (weighted).
	IngressRouting *SwimLaneGroupIngressRouting `json:"ingressRouting,omitempty"`
}

// SwimLaneGateway names the Istio Gateway the group's ingress
// VirtualService binds to.
type SwimLaneGateway struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// Type is the kind of gateway; lanemesh, like ASM's lane groups,
	// serves "ASM" (an Istio Gateway). Empty means "ASM".
	Type string `json:"type,omitempty"`
}

// Ingress routing strategies.
const (
	RoutingRuleBased = "rule_based"
	RoutingWeighted  = "weighted"
)

// SwimLaneGroupIngressRouting chooses how the gateway picks a lane.
type SwimLaneGroupIngressRouting struct {
	// IngressRoutingStrategy is "rule_based" (default) or "weighted".
	IngressRoutingStrategy string `json:"ingressRoutingStrategy,omitempty"`
	// WeightedRoutingRule says which requests the weighted split applies
	// to; each lane's share is its ingressWeight.
	WeightedRoutingRule *WeightedSwimLaneIngress `json:"weightedRoutingRule,omitempty"`
}

// WeightedSwimLaneIngress matches the requests a weighted split applies to.
type WeightedSwimLaneIngress struct {
	Hosts          []string                      `json:"hosts,omitempty"`
	RequestMatches []SwimLaneIngressRequestMatch `json:"requestMatches,omitempty"`
}

// PermissiveSwimLaneGroupConfiguration says how a permissive group carries
// the lane along the call chain and where a missing service falls back.
type PermissiveSwimLaneGroupConfiguration struct {
	// RouteHeader is the header whose value is the lane's name
	// (x-asm-prefer-tag: s2); every hop routes by it.
	RouteHeader string `json:"routeHeader"`
	// TraceHeader is what the applications propagate, and so how the lane
	// reaches the next hop:
	//   - a trace id header (x-request-id, my-trace-id): each sidecar
	//     remembers, per trace id, the lane of the request its pod
	//     received, and puts RouteHeader back on that pod's outgoing calls;
	//   - "baggage": the sidecar adds the lane to the W3C baggage header as
	//     the member RouteHeader=<lane>, and reads it back from the
	//     outgoing calls of OpenTelemetry-instrumented applications;
	//   - the same name as RouteHeader: the applications propagate the lane
	//     themselves.
	TraceHeader string `json:"traceHeader"`
	// FallbackTarget is the name of the baseline lane: a hop whose service
	// has no instance in the request's lane goes there.
	FallbackTarget string `json:"fallbackTarget"`
	// ServiceLevelFallbackTarget overrides FallbackTarget for single
	// services, keyed "namespace/name" (or "name" in namespace default).
	ServiceLevelFallbackTarget map[string]string `json:"serviceLevelFallbackTarget,omitempty"`
}

// ASMSwimLane is one lane of a group (label swimlane-group: <group>).
type ASMSwimLane struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta      `json:"metadata"`
	Spec     ASMSwimLaneSpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// ASMSwimLaneSpec is the body of an ASMSwimLane.
type ASMSwimLaneSpec struct {
	// LabelSelector picks the lane's pods of every service (version: v2).
	LabelSelector map[string]string `json:"labelSelector"`
	// Services are the group's services this lane holds. In strict mode
	// it must hold them all (an empty list means all of them); in
	// permissive mode the others are served by the baseline lane.
	Services []ClusterServiceRef `json:"services,omitempty"`
	// IngressRules let requests into the lane under rule_based routing.
	IngressRules []SwimLaneIngressRule `json:"ingressRules,omitempty"`
	// IngressWeight is the lane's share under weighted routing.
	IngressWeight *SwimLaneIngressWeight `json:"ingressWeight,omitempty"`
}

// SwimLaneIngressRule is one gateway rule into the lane.
type SwimLaneIngressRule struct {
	Name string `json:"name,omitempty"`
	// Online puts the rule in force; a rule that is not online is kept
	// but routes nothing.
	Online bool     `json:"online,omitempty"`
	Hosts  []string `json:"hosts,omitempty"`
	// Match is what the request must match (uri and headers, ANDed).
	Match SwimLaneIngressRequestMatch `json:"match"`
	Route SwimLaneIngressRoute        `json:"route"`
}

// SwimLaneIngressRequestMatch matches a request by uri and headers.
type SwimLaneIngressRequestMatch struct {
	URI     *StringMatch           `json:"uri,omitempty"`
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// SwimLaneIngressRoute is where a rule sends the request: the lane's
// version of this service.
type SwimLaneIngressRoute struct {
	Destination SwimLaneRouteDestination `json:"destination"`
}

// SwimLaneRouteDestination is a service host (short or FQDN) and port.
type SwimLaneRouteDestination struct {
	Host    string `json:"host"`
	PortNum uint32 `json:"portNum,omitempty"`
}

// SwimLaneIngressWeight is a lane's share of weighted entry.
type SwimLaneIngressWeight struct {
	Destination SwimLaneRouteDestination `json:"destination"`
	Weight      int32                    `json:"weight"`
}
