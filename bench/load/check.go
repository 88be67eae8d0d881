package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"
)

// cmdCheck proves that a proxy routes correctly before it is measured:
// every lane's requests reach that lane's upstream (whose body names its
// version), and a request for an unknown lane or another path reaches
// none (a 4xx). It first waits, up to -wait, for the proxy to answer at all.
//
// With -expect BODY it checks a plain server instead (the no-proxy zero
// line): every request must answer 200 with exactly BODY. With -match RE
// (a chain of mocks) the body must match RE, {lane} standing for the lane;
// -plain skips the unrouted probes, for a target that answers every path.
func cmdCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	target := fs.String("url", "", "URL of the routed path, e.g. http://127.0.0.1:20010/mock (required)")
	lanesFlag := fs.String("lanes", "v1,v2,v3", "comma-separated lanes to check")
	app := fs.String("app", "mocka", "app name in the upstream's body")
	n := fs.Int("n", 10, "requests per lane")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for a first answer")
	expect := fs.String("expect", "", "check a plain server: every answer must be this body")
	match := fs.String("match", "", "every answer's body must match this regexp ({lane} is the lane)")
	plain := fs.Bool("plain", false, "skip the unrouted probes (the target answers every path)")
	fs.Parse(args)
	lanes, err := splitLanes(*lanesFlag)
	if err != nil || *target == "" {
		return errors.Join(err, errors.New("-url is required"))
	}
	m, err := newMatcher(*app, *expect, *match, "", lanes)
	if err != nil {
		return err
	}
	c := newClient(1, 2*time.Second)
	if err := waitReady(c, *target, lanes[0], *wait); err != nil {
		return err
	}
	ctx := context.Background()
	for _, lane := range lanes {
		for i := 0; i < *n; i++ {
			status, body, err := get(ctx, c, *target, lane)
			if err != nil {
				return fmt.Errorf("lane %s: %w", lane, err)
			}
			if status != 200 || m.judge(lane, body) != inLane {
				return fmt.Errorf("lane %s: got %d %q, want 200 and %s (misrouted)", lane, status, body, m.want(lane))
			}
		}
	}
	if *expect == "" && !*plain {
		if err := checkNoRoute(c, *target); err != nil {
			return err
		}
	}
	fmt.Printf("check %s: ok (%d lanes × %d requests routed to their upstream)\n", *target, len(lanes), *n)
	return nil
}

// checkNoRoute requires a 4xx for a lane no route names and for a path
// outside the routes.
func checkNoRoute(c httpDoer, target string) error {
	other, err := url.Parse(target)
	if err != nil {
		return err
	}
	other.Path = "/not-mock"
	for _, probe := range []struct{ url, lane string }{{target, "v99"}, {target, ""}, {other.String(), "v1"}} {
		status, body, err := get(context.Background(), c, probe.url, probe.lane)
		if err != nil {
			return fmt.Errorf("unrouted request %s lane %q: %w", probe.url, probe.lane, err)
		}
		if status < 400 || status > 499 {
			return fmt.Errorf("unrouted request %s lane %q: got %d %q, want a 4xx", probe.url, probe.lane, status, body)
		}
	}
	return nil
}

// waitReady polls target with lane's header until it answers 200, so that
// a proxy that listens before its routes are loaded gets time to load them.
// Past wait it returns nil if the target answered at all, for the checks
// to report what is wrong, and an error if it never answered.
func waitReady(c httpDoer, target, lane string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		status, _, err := get(context.Background(), c, target, lane)
		if status == 200 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s did not answer within %v: %w", target, wait, err)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
