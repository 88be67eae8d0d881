package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/lanemesh/lanemesh/internal/lanes"
	"net/http"
	"reflect"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
)

// kindAliases maps what users type after `get` to a kind, as kubectl's
// short names, singulars and plurals do.
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
	"laneentrypolicy": "LaneEntryPolicy", "laneentrypolicies": "LaneEntryPolicy", "lep": "LaneEntryPolicy",
}

// Kind resolves a user's kind name ("vs", "deployments", "VirtualService",
// "virtualservices.networking.istio.io") to a kind.
func Kind(name string) (string, bool) {
	name = strings.ToLower(name)
	if base, group, ok := strings.Cut(name, "."); ok && (group == "networking.istio.io" || group == "apps" || group == "v1") {
		name = base
	}
	k, ok := kindAliases[name]
	return k, ok
}

// KindNames returns every name Kind accepts, for shell completion.
func KindNames() []string {
	out := make([]string, 0, len(kindAliases))
	for n := range kindAliases {
		out = append(out, n)
	}
	return out
}

// objects answers GET /v1/objects/{kind}?namespace=NS&name=NAME&labelSelector=SEL
// with the matching objects (namespace "" means all), each with its
// metadata.creationTimestamp, which the loader accepts and ignores, so that
// what `get -o yaml` prints can be applied unchanged.
func (s *Server) objects(w http.ResponseWriter, r *http.Request) {
	kind, ok := Kind(r.PathValue("kind"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown kind "+r.PathValue("kind")+"; known: "+strings.Join(config.Kinds(), ", "))
		return
	}
	s.listObjects(w, r, kind)
}

// allObjects answers GET /v1/objects: every object of every kind, with the
// same filters.
func (s *Server) allObjects(w http.ResponseWriter, r *http.Request) { s.listObjects(w, r, "") }

func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, kind string) {
	q := r.URL.Query()
	ns, name := q.Get("namespace"), q.Get("name")
	sel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid labelSelector: "+err.Error())
		return
	}
	c, _ := s.Store.Config()
	out := []json.RawMessage{}
	for _, obj := range c.Objects() {
		k, objNS, objName := config.Identify(obj)
		if (kind != "" && k != kind) || (ns != "" && ns != objNS) || (name != "" && name != objName) ||
			!sel.Matches(labels.Set(metaOf(obj).Labels)) {
			continue
		}
		created := time.Time{}
		if m, ok := s.Store.Meta(k, objNS, objName); ok {
			created = m.Created
		} else if owner, ok := metaOf(obj).Annotations[lanes.GeneratedBy]; ok {
			// A generated object is as old as the lane group it
			// comes from.
			if kind, name, ok := strings.Cut(owner, "/"); ok {
				if m, ok := s.Store.Meta(kind, "", name); ok {
					created = m.Created
				}
			}
		}
		b, err := encodeObject(obj, created)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out = append(out, b)
	}
	if name != "" && len(out) == 0 {
		msg := fmt.Sprintf("%s %q not found", strings.ToLower(kind), name)
		if ns != "" {
			msg += " in namespace " + ns
		}
		writeError(w, http.StatusNotFound, msg)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// metaOf returns an object's metadata.
func metaOf(obj any) api.ObjectMeta {
	m, _ := reflect.ValueOf(obj).Elem().FieldByName("Metadata").Interface().(api.ObjectMeta)
	return m
}

// encodeObject is the object as JSON, apiVersion and kind filled in (objects
// built in code may lack them) and, when known, its creationTimestamp
// added to metadata, in the order Kubernetes prints them.
func encodeObject(obj any, created time.Time) (json.RawMessage, error) {
	b, err := json.Marshal(withTypeMeta(obj))
	if err != nil {
		return nil, err
	}
	if created.IsZero() {
		return b, nil
	}
	fields, err := orderedFields(b)
	if err != nil {
		return nil, err
	}
	for i, f := range fields {
		if f.key != "metadata" {
			continue
		}
		meta, err := orderedFields(f.value)
		if err != nil {
			return nil, err
		}
		ts, _ := json.Marshal(created.UTC().Format(time.RFC3339))
		fields[i].value = joinFields(append(meta, field{"creationTimestamp", ts}))
	}
	return joinFields(fields), nil
}

// field is one member of a JSON object, kept in order.
type field struct {
	key   string
	value json.RawMessage
}

// orderedFields splits a JSON object into its members, in order.
func orderedFields(b []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %s", b)
	}
	var out []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{t.(string), v})
	}
	return out, nil
}

func joinFields(fs []field) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(f.value)
	}
	b.WriteByte('}')
	return b.Bytes()
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
	if tm.FieldByName("APIVersion").String() == "" {
		tm.FieldByName("APIVersion").SetString(defaultAPIVersion[kind])
	}
	return v.Interface()
}

// defaultAPIVersion is the apiVersion written for an object that has none.
var defaultAPIVersion = map[string]string{
	"Gateway": "networking.istio.io/v1", "VirtualService": "networking.istio.io/v1", "DestinationRule": "networking.istio.io/v1",
	"ServiceEntry": "networking.istio.io/v1", "WorkloadEntry": "networking.istio.io/v1", "Service": "v1", "Deployment": "apps/v1",
}
