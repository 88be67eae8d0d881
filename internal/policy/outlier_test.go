package policy

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func outlier(t *testing.T, od *clusterv3.OutlierDetection) *Outlier {
	t.Helper()
	o, err := BuildOutlier(od)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestTrips follows Envoy's consecutive detectors: five 5xx by default, a
// success resets, local-origin failures count as 503s unless split, and
// gateway failures count only when enforced.
func TestTrips(t *testing.T) {
	r := func(status int) Result { return Result{Outcome: Response, Status: status} }
	for _, tc := range []struct {
		name    string
		od      *clusterv3.OutlierDetection
		results []Result
		trips   int // the attempt (1-based) that trips; 0: none
	}{
		{"five 5xx by default", &clusterv3.OutlierDetection{}, []Result{r(500), r(502), r(503), r(500), r(500)}, 5},
		{"a success in between resets", &clusterv3.OutlierDetection{}, []Result{r(500), r(500), r(500), r(500), r(200), r(500)}, 0},
		{"a 4xx is a success", &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(2)}, []Result{r(500), r(404), r(500)}, 0},
		{"local failures count as 503", &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(2)},
			[]Result{{Outcome: Reset}, {Outcome: Connect}}, 2},
		{"split: local failures on their own detector", &clusterv3.OutlierDetection{SplitExternalLocalOriginErrors: true,
			Consecutive_5Xx: wrapperspb.UInt32(1), ConsecutiveLocalOriginFailure: wrapperspb.UInt32(3)},
			[]Result{{Outcome: Reset}, {Outcome: Timeout}, {Outcome: Connect}}, 3},
		{"cancelled attempts count for nothing", &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(1)},
			[]Result{{Outcome: Cancel}, {Outcome: Cancel}}, 0},
		{"gateway failures, when enforced", &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(100),
			ConsecutiveGatewayFailure: wrapperspb.UInt32(2), EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(100)},
			[]Result{r(502), r(500), r(503), r(504)}, 4},
		{"5xx not enforced", &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(1), EnforcingConsecutive_5Xx: wrapperspb.UInt32(0)},
			[]Result{r(500), r(500)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			od := outlier(t, tc.od)
			var c Counters
			got := 0
			for i, res := range tc.results {
				if od.Trips(&c, res.Outcome, res.Status) && got == 0 {
					got = i + 1
				}
			}
			if got != tc.trips {
				t.Errorf("tripped at attempt %d, want %d", got, tc.trips)
			}
		})
	}
}

func TestMayEject(t *testing.T) {
	od := outlier(t, &clusterv3.OutlierDetection{MaxEjectionPercent: wrapperspb.UInt32(50)})
	for _, tc := range []struct {
		ejected, total int
		want           bool
	}{{0, 1, true}, {1, 2, false}, {0, 2, true}, {1, 4, true}, {2, 4, false}} {
		if got := od.MayEject(tc.ejected, tc.total); got != tc.want {
			t.Errorf("MayEject(%d of %d) = %v, want %v", tc.ejected, tc.total, got, tc.want)
		}
	}
}

// TestEjection: base time × multiplier, capped, with the multiplier
// decaying by one per healthy interval.
func TestEjection(t *testing.T) {
	od := outlier(t, &clusterv3.OutlierDetection{BaseEjectionTime: durationpb.New(time.Second),
		MaxEjectionTime: durationpb.New(3 * time.Second), Interval: durationpb.New(10 * time.Second)})
	sec := int64(time.Second)
	for _, tc := range []struct {
		m            uint32
		lastEnd, now int64
		want         time.Duration
		wantM        uint32
	}{
		{0, 0, 100 * sec, time.Second, 1},
		{1, 100 * sec, 101 * sec, 2 * time.Second, 2},
		{5, 100 * sec, 101 * sec, 3 * time.Second, 6}, // capped
		{2, 100 * sec, 125 * sec, time.Second, 1},     // two healthy intervals
	} {
		d, m := od.Ejection(tc.m, tc.lastEnd, tc.now)
		if d != tc.want || m != tc.wantM {
			t.Errorf("Ejection(%d, %d, %d) = %v, %d; want %v, %d", tc.m, tc.lastEnd, tc.now, d, m, tc.want, tc.wantM)
		}
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	p := retryPolicy(t, "5xx", 5) // 25 ms base, 250 ms cap
	for n := 1; n <= 20; n++ {
		ceiling := min(25*time.Millisecond<<(n-1), 250*time.Millisecond)
		if top := p.Backoff(n, ^uint32(0)); top >= ceiling || top < ceiling*99/100 {
			t.Errorf("retry %d: the largest backoff is %v, want just under %v", n, top, ceiling)
		}
		if low := p.Backoff(n, 0); low != 0 {
			t.Errorf("retry %d: the smallest backoff is %v, want 0", n, low)
		}
	}
}

func TestFires(t *testing.T) {
	for _, tc := range []struct {
		share, rnd uint32
		want       bool
	}{{0, 0, false}, {million, 123, true}, {500_000, 499_999, true}, {500_000, 500_000, false}, {1, million, true}, {1, million + 1, false}} {
		if got := fires(tc.share, tc.rnd); got != tc.want {
			t.Errorf("fires(%d, %d) = %v, want %v", tc.share, tc.rnd, got, tc.want)
		}
	}
}
