package hashring

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"
)

var keys = []string{"10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000", "10.0.0.4:8000"}

func tables(t *testing.T, ks []string) map[string]*Table {
	t.Helper()
	ring, err := Ring(ks, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	mag, err := Maglev(ks, 0)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Table{"ring": ring, "maglev": mag}
}

// TestSizes: Envoy's entry counts, ceil(1024/n) per key for the ring, and
// every Maglev slot filled, each key taking its share give or take one.
func TestSizes(t *testing.T) {
	for n := 1; n <= 7; n++ {
		ks := make([]string, n)
		for i := range ks {
			ks[i] = fmt.Sprintf("10.1.0.%d:80", i+1)
		}
		ring, _ := Ring(ks, 0, 0)
		per := (DefaultMinRingSize + n - 1) / n
		if ring.Len() != per*n {
			t.Errorf("ring of %d keys has %d entries, want %d", n, ring.Len(), per*n)
		}
		mag, _ := Maglev(ks, 0)
		count := make([]int, n)
		for i := range mag.Len() {
			count[mag.At(i)]++
		}
		for i, c := range count {
			if c < DefaultTableSize/n-1 || c > DefaultTableSize/n+1 {
				t.Errorf("maglev of %d keys: key %d has %d slots, want about %d", n, i, c, DefaultTableSize/n)
			}
		}
	}
}

// TestStable: a key picks the same endpoint on every build, and keys
// spread over every endpoint.
func TestStable(t *testing.T) {
	a, b := tables(t, keys), tables(t, keys)
	for name := range a {
		seen := map[int]int{}
		for k := range 4000 {
			h := xxhash.Sum64String(fmt.Sprintf("user-%d", k))
			if a[name].Pick(h) != b[name].Pick(h) {
				t.Fatalf("%s: key %d picks differently on two builds", name, k)
			}
			seen[a[name].Pick(h)]++
		}
		for i := range keys {
			if seen[i] < 4000/len(keys)/2 {
				t.Errorf("%s: endpoint %d took %d of 4000 keys; want about %d", name, i, seen[i], 4000/len(keys))
			}
		}
	}
}

// TestOnlyItsKeysMove: when an endpoint becomes unusable, walking on from
// its slots moves its keys and no other; they spread over the others.
func TestOnlyItsKeysMove(t *testing.T) {
	for name, tb := range tables(t, keys) {
		const gone = 2
		moved, spread := 0, map[int]int{}
		for k := range 4000 {
			h := xxhash.Sum64String(fmt.Sprintf("user-%d", k))
			before := tb.Pick(h)
			after := -1
			for s, i := tb.Start(h), 0; i < tb.Len(); i++ {
				if e := tb.At((s + i) % tb.Len()); e != gone {
					after = e
					break
				}
			}
			switch {
			case before != gone && after != before:
				t.Fatalf("%s: key %d moved from %d to %d though %d left", name, k, before, after, gone)
			case before == gone:
				moved++
				spread[after]++
			}
		}
		if moved == 0 || len(spread) != len(keys)-1 {
			t.Errorf("%s: %d keys of the endpoint that left went to %v; want them spread over the other %d", name, moved, spread, len(keys)-1)
		}
	}
}

// TestRebuildWithoutEndpoint: rebuilt without an endpoint (it left the
// assignment), the keys it held move, and nearly all others stay: Envoy
// rebuilds its tables so, and a few keys shift between the others as the
// remaining endpoints take the freed share.
func TestRebuildWithoutEndpoint(t *testing.T) {
	full := tables(t, keys)
	less := tables(t, append([]string{keys[0], keys[1]}, keys[3]))
	remap := []int{0, 1, -1, 2} // index in full → index in less
	for name := range full {
		stayed, others := 0, 0
		for k := range 4000 {
			h := xxhash.Sum64String(fmt.Sprintf("user-%d", k))
			before, after := full[name].Pick(h), less[name].Pick(h)
			if before == 2 {
				continue
			}
			others++
			if remap[before] == after {
				stayed++
			}
		}
		t.Logf("%s: %d of %d keys of the remaining endpoints stayed (%.1f%%)", name, stayed, others, 100*float64(stayed)/float64(others))
		if float64(stayed) < 0.8*float64(others) {
			t.Errorf("%s: only %d of %d keys of the remaining endpoints stayed", name, stayed, others)
		}
	}
}

func TestSizeErrors(t *testing.T) {
	if _, err := Maglev(keys, 65536); !errors.Is(err, ErrSize) {
		t.Errorf("Maglev(65536) = %v, want ErrSize (not prime)", err)
	}
	if _, err := Ring(keys, 2048, 1024); !errors.Is(err, ErrSize) {
		t.Errorf("Ring(min 2048, max 1024) = %v, want ErrSize", err)
	}
	if tb, _ := Ring(nil, 0, 0); tb.Pick(42) != -1 {
		t.Error("an empty ring picks an endpoint")
	}
}

// TestRingSearch: Start is the first entry at or above the hash, wrapping.
func TestRingSearch(t *testing.T) {
	tb, _ := Ring(keys[:2], 4, 0)
	last := tb.hashes[len(tb.hashes)-1]
	if tb.Start(last+1) != 0 || tb.Start(0) != 0 || tb.Start(tb.hashes[1]) != 1 || tb.Start(tb.hashes[0]+1) != 1 {
		t.Errorf("ring search: hashes %v", tb.hashes)
	}
}

func BenchmarkPick(b *testing.B) {
	ring, _ := Ring(keys, 0, 0)
	mag, _ := Maglev(keys, 0)
	b.ReportAllocs()
	for i := range b.N {
		_ = ring.Pick(uint64(i) * 0x9e3779b97f4a7c15)
		_ = mag.Pick(uint64(i) * 0x9e3779b97f4a7c15)
	}
}

// BenchmarkBuild measures what a proxy spends per table it builds: 10
// endpoints, Envoy's default sizes.
func BenchmarkBuild(b *testing.B) {
	ks := make([]string, 10)
	for i := range ks {
		ks[i] = fmt.Sprintf("10.2.0.%d:8080", i+1)
	}
	b.Run("ring-1024", func(b *testing.B) {
		for range b.N {
			_, _ = Ring(ks, 0, 0)
		}
	})
	b.Run("maglev-65537", func(b *testing.B) {
		for range b.N {
			_, _ = Maglev(ks, 0)
		}
	})
}
