package xdsserver

import "github.com/lanemesh/lanemesh/internal/meshxds"

// kind and its constants are short local names for meshxds's Kind, the
// four xDS types lanemesh uses, in the order an update flows: clusters
// before their endpoints, listeners before their routes.
type kind = meshxds.Kind

const (
	clusters  = meshxds.Clusters
	endpoints = meshxds.Endpoints
	listeners = meshxds.Listeners
	routes    = meshxds.Routes
	numKinds  = meshxds.NumKinds
)

func kindOf(typeURL string) (kind, bool) { return meshxds.KindOf(typeURL) }
