package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/dashboard"
	lanegen "github.com/lanemesh/lanemesh/internal/lanes"
)

// laneGroup prints what a lane group makes of the running mesh, read from
// the generator's own resolution (lanegen.GroupLayout): its mode, and per
// lane its selector, what it does for each of the group's services (its
// own version, or in a permissive group the baseline a hop goes to), and
// its ready pods; then the objects it generates. A group that cannot be
// resolved says why.
func (d describer) laneGroup(it item) error {
	c, instances, err := liveMesh(d.c)
	if err != nil {
		return err
	}
	layout, err := lanegen.GroupLayout(c, it.name)
	if err != nil {
		fmt.Fprintf(d.w, "Resolution:\t%v\n", err)
		return d.spec(it)
	}
	tw := tabwriter.NewWriter(d.w, 0, 8, 2, ' ', 0)
	mode := "strict: each hop routes by its caller's labels"
	if layout.RouteHeader != "" {
		mode = "permissive: each hop routes by the header " + layout.RouteHeader + "; a service a lane lacks goes to its baseline"
	}
	fmt.Fprintf(tw, "Mode:\t%s\n", mode)
	var names []string
	for _, s := range layout.Services {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	fmt.Fprintf(tw, "Services:\t%s\n", strings.Join(names, ", "))
	fmt.Fprintln(tw, "Lanes:")
	fmt.Fprintln(tw, "  LANE\tSELECTOR\tSERVICES\tREADY PODS")
	for _, l := range layout.Lanes {
		var held []string
		ready, pods := 0, 0
		for _, s := range layout.Services {
			if !layout.Holds(l.Metadata.Name, s) {
				if b := layout.Baseline(s); b != "" {
					held = append(held, s.Name+"→"+b)
				}
				continue
			}
			held = append(held, s.Name)
			if sel, ns, ok := dashboard.ServiceOf(c, config.FQDN(s.Name, s.Namespace)); ok && len(sel) > 0 {
				n, r := dashboard.CountPods(instances, ns, sel, l.Spec.LabelSelector)
				ready, pods = ready+r, pods+n
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d/%d\n", l.Metadata.Name, selectorString(l.Spec.LabelSelector), strings.Join(held, " "), ready, pods)
	}
	fmt.Fprintln(tw, "Generated:")
	for _, g := range generatedBy(c, "ASMSwimLaneGroup/"+it.name) {
		fmt.Fprintf(tw, "  %s\n", g)
	}
	return tw.Flush()
}

// generatedBy lists the VirtualServices and DestinationRules the
// generator marked as owner's, as KIND NAMESPACE/NAME.
func generatedBy(c *config.Config, owner string) []string {
	var out []string
	add := func(kind string, m api.ObjectMeta) {
		if m.Annotations[lanegen.GeneratedBy] == owner {
			out = append(out, kind+" "+m.Namespace+"/"+m.Name)
		}
	}
	for _, vs := range c.VirtualServices {
		add("VirtualService", vs.Metadata)
	}
	for _, dr := range c.DestinationRules {
		add("DestinationRule", dr.Metadata)
	}
	return out
}
