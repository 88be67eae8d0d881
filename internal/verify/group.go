package verify

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/lanemesh/lanemesh/internal/config"
	lanesgen "github.com/lanemesh/lanemesh/internal/lanes"
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
	var groups []string
	for _, g := range c.SwimLaneGroups {
		groups = append(groups, g.Metadata.Name)
	}
	if !slices.Contains(groups, name) {
		return nil, "", nil, fmt.Errorf("no ASMSwimLaneGroup %q in the mesh (groups: %s)", name, cmp.Or(strings.Join(groups, ", "), "none"))
	}
	layout, err := lanesgen.GroupLayout(c, name)
	if err != nil {
		return nil, "", nil, err
	}
	if len(layout.Lanes) == 0 {
		return nil, "", nil, fmt.Errorf("ASMSwimLaneGroup %s has no lanes", name)
	}
	version := map[string]string{} // lane → the version its pods print
	for _, l := range layout.Lanes {
		version[l.Metadata.Name] = cmp.Or(l.Spec.LabelSelector["version"], l.Metadata.Name)
	}
	expect = map[string]Expect{}
	for _, l := range layout.Lanes {
		lane := l.Metadata.Name
		e := Expect{Default: version[lane], Version: map[string]string{}, Fallback: map[string]string{}}
		for _, s := range layout.Services {
			baseline := layout.Baseline(s)
			if baseline == "" { // a strict group: no fallback
				continue
			}
			e.Fallback[s.Name] = version[baseline]
			if !layout.Holds(lane, s) {
				e.Version[s.Name] = version[baseline]
			}
		}
		lanes = append(lanes, lane)
		expect[lane] = e
	}
	return lanes, layout.RouteHeader, expect, nil
}
