package admin

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/lanemesh/lanemesh/internal/config"
)

// kindAliases maps what users type after `get` to a kind, as kubectl's
// short names do.
var kindAliases = map[string]string{
	"gateway": "Gateway", "gateways": "Gateway", "gw": "Gateway",
	"virtualservice": "VirtualService", "virtualservices": "VirtualService", "vs": "VirtualService",
	"destinationrule": "DestinationRule", "destinationrules": "DestinationRule", "dr": "DestinationRule",
	"serviceentry": "ServiceEntry", "serviceentries": "ServiceEntry", "se": "ServiceEntry",
	"workloadentry": "WorkloadEntry", "workloadentries": "WorkloadEntry", "we": "WorkloadEntry",
	"service": "Service", "services": "Service", "svc": "Service",
	"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
	"asmswimlanegroup": "ASMSwimLaneGroup", "asmswimlanegroups": "ASMSwimLaneGroup",
	"asmswimlane": "ASMSwimLane", "asmswimlanes": "ASMSwimLane",
}

// Kind resolves a user's kind name ("vs", "deployments") to a kind.
func Kind(name string) (string, bool) {
	k, ok := kindAliases[strings.ToLower(name)]
	return k, ok
}

// objects answers GET /v1/objects/{kind}?namespace=NS&name=NAME with the
// matching objects (namespace "" means all).
func (s *Server) objects(w http.ResponseWriter, r *http.Request) {
	kind, ok := Kind(r.PathValue("kind"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown kind "+r.PathValue("kind")+"; known: "+strings.Join(config.Kinds(), ", "))
		return
	}
	ns, name := r.URL.Query().Get("namespace"), r.URL.Query().Get("name")
	c, _ := s.Store.Config()
	out := []any{}
	for _, obj := range c.Objects() {
		k, objNS, objName := config.Identify(obj)
		if k == kind && (ns == "" || ns == objNS) && (name == "" || name == objName) {
			out = append(out, withTypeMeta(obj))
		}
	}
	if name != "" && len(out) == 0 {
		writeError(w, http.StatusNotFound, kind+" "+ns+"/"+name+" not found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// withTypeMeta fills apiVersion and kind, which objects built in code may
// lack, on a copy.
func withTypeMeta(obj any) any {
	v := reflect.New(reflect.TypeOf(obj).Elem())
	v.Elem().Set(reflect.ValueOf(obj).Elem())
	kind, _, _ := config.Identify(obj)
	tm := v.Elem().FieldByName("TypeMeta")
	if tm.FieldByName("Kind").String() == "" {
		tm.FieldByName("Kind").SetString(kind)
	}
	return v.Interface()
}
