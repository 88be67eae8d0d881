package verify

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
)

// ForGroup derives, from lane group name's objects in c, what verify
// expects of each of its lanes, so that lanes need not be named after
// their versions nor share one fallback: the lanes (sorted), the header
// that chooses them (the group's routeHeader when it is permissive, "" for
// the caller's choice), and per lane and app the version its pods print
// (the version label of the lane's labelSelector, else the lane's name)
// and the version a hop falls back to. In a permissive group that is the
// baseline lane's, serviceLevelFallbackTarget's for the service or else
// fallbackTarget's, which is also where the lane's requests go for a
// service the lane does not hold. A strict group's lanes do not fall back.
// An app is a service's name, as the sample app prints it.
func ForGroup(c *config.Config, name string) (lanes []string, header string, expect map[string]Expect, err error) {
	var grp *api.ASMSwimLaneGroup
	var groups []string
	for _, g := range c.SwimLaneGroups {
		groups = append(groups, g.Metadata.Name)
		if g.Metadata.Name == name {
			grp = g
		}
	}
	if grp == nil {
		return nil, "", nil, fmt.Errorf("no ASMSwimLaneGroup %q in the mesh (groups: %s)", name, cmp.Or(strings.Join(groups, ", "), "none"))
	}
	byName := map[string]*api.ASMSwimLane{}
	for _, l := range c.SwimLanes {
		if l.Metadata.Labels[api.SwimLaneGroupLabel] == name {
			byName[l.Metadata.Name] = l
			lanes = append(lanes, l.Metadata.Name)
		}
	}
	if len(lanes) == 0 {
		return nil, "", nil, fmt.Errorf("ASMSwimLaneGroup %s has no lanes", name)
	}
	slices.Sort(lanes)
	version := func(lane string) string {
		if l := byName[lane]; l != nil && l.Spec.LabelSelector["version"] != "" {
			return l.Spec.LabelSelector["version"]
		}
		return lane
	}
	pm := grp.Spec.PermissiveModeConfiguration
	permissive := grp.Spec.IsPermissive && pm != nil
	if permissive {
		header = pm.RouteHeader
	}
	expect = map[string]Expect{}
	for _, lane := range lanes {
		e := Expect{Default: version(lane), Version: map[string]string{}, Fallback: map[string]string{}}
		held := byName[lane].Spec.Services
		for _, s := range grp.Spec.Services {
			if !permissive {
				continue
			}
			ns := cmp.Or(s.Namespace, "default")
			baseline := pm.ServiceLevelFallbackTarget[ns+"/"+s.Name]
			if ns == "default" {
				baseline = cmp.Or(baseline, pm.ServiceLevelFallbackTarget[s.Name])
			}
			baseline = cmp.Or(baseline, pm.FallbackTarget)
			e.Fallback[s.Name] = version(baseline)
			holds := len(held) == 0 || slices.ContainsFunc(held, func(r api.ClusterServiceRef) bool {
				return r.Name == s.Name && cmp.Or(r.Namespace, "default") == ns
			})
			if !holds {
				e.Version[s.Name] = version(baseline)
			}
		}
		expect[lane] = e
	}
	return lanes, header, expect, nil
}
