package cli

import (
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/admin"
)

// typeNames are the types get and describe complete, in kubectl's words.
var typeNames = []string{"pods", "deployments", "services", "gateways", "virtualservices", "destinationrules",
	"serviceentries", "workloadentries", "events", "proxies"}

// completeGetArgs completes a type first, then the names of that type's
// objects from the running mesh: cheap, one request, and nothing when no
// mesh answers.
func completeGetArgs(c *client, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		if t, _, ok := strings.Cut(toComplete, "/"); ok {
			return prefixed(t+"/", objectNames(c, t)), cobra.ShellCompDirectiveNoFileComp
		}
		return typeNames, cobra.ShellCompDirectiveNoFileComp
	}
	if strings.Contains(args[0], "/") || strings.Contains(args[0], ",") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return objectNames(c, args[0]), cobra.ShellCompDirectiveNoFileComp
}

// completePods completes pod names.
func completePods(c *client, args []string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return objectNames(c, "pods"), cobra.ShellCompDirectiveNoFileComp
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// objectNames lists the names of one type's objects in the mesh.
func objectNames(c *client, typ string) []string {
	r, ok := resource(typ)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	switch r {
	case "pods":
		var pods []admin.Pod
		c.do("GET", "/v1/pods", nil, nil, &pods)
		for _, p := range pods {
			seen[p.Name] = true
		}
	case "proxies", "events":
		return nil
	default:
		var objs []struct{ Metadata struct{ Name string } }
		c.do("GET", "/v1/objects/"+r, url.Values{}, nil, &objs)
		for _, o := range objs {
			seen[o.Metadata.Name] = true
		}
	}
	return sortedKeys(seen)
}

// completeNamespaces lists the namespaces of the mesh's objects and pods.
func completeNamespaces(c *client) ([]cobra.Completion, cobra.ShellCompDirective) {
	seen := map[string]bool{}
	var objs []struct{ Metadata struct{ Namespace string } }
	c.do("GET", "/v1/objects", nil, nil, &objs)
	for _, o := range objs {
		seen[o.Metadata.Namespace] = true
	}
	return sortedKeys(seen), cobra.ShellCompDirectiveNoFileComp
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
