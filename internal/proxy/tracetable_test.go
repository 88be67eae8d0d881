package proxy

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestTraceTablePutGet(t *testing.T) {
	tt := newTraceTable(100, int64(time.Minute))
	tt.put("trace-1", "s2", 0)
	tt.put("trace-2", "s3", 0)
	for _, tc := range []struct {
		key, want string
		now       int64
		ok        bool
	}{
		{"trace-1", "s2", 1, true},
		{"trace-2", "s3", 1, true},
		{"trace-3", "", 1, false},
		{"trace-1", "", int64(time.Minute), false}, // expired exactly at its TTL
		{"trace-1", "", 1, false},                  // and gone, not revived by an earlier clock
	} {
		got, ok := tt.get(tc.key, tc.now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("get(%q, %d) = %q, %v; want %q, %v", tc.key, tc.now, got, ok, tc.want, tc.ok)
		}
	}
	// A later put of the same id moves it to the new lane and renews it.
	tt.put("trace-2", "s4", int64(30*time.Second))
	if got, ok := tt.get("trace-2", int64(80*time.Second)); got != "s4" || !ok {
		t.Errorf("renewed entry: %q, %v", got, ok)
	}
	// Empty and oversized keys and lanes are not remembered.
	tt.put("", "s2", 0)
	tt.put("trace-4", "", 0)
	tt.put(string(make([]byte, maxTraceIDBytes+1)), "s2", 0)
	tt.put("trace-5", string(make([]byte, maxLaneNameBytes+1)), 0)
	if n := tt.len(); n != 1 {
		t.Errorf("len = %d after bad puts, want 1 (trace-2)", n)
	}
}

// TestTraceTableBound writes 100,000 distinct trace ids into tables of
// several capacities: none ever holds more than its capacity, and the most
// recent ids are still there (CLOCK keeps what was just written).
func TestTraceTableBound(t *testing.T) {
	for _, capacity := range []int{1, 10, 1000, 65536} {
		tt := newTraceTable(capacity, int64(time.Hour))
		if tt.capacity < capacity || tt.capacity > capacity+len(tt.shards)-1 {
			t.Fatalf("capacity %d: table holds %d", capacity, tt.capacity)
		}
		for i := range 100_000 {
			tt.put("id-"+strconv.Itoa(i), "s2", int64(i))
			if i%1000 == 0 && tt.len() > tt.capacity {
				t.Fatalf("capacity %d: %d entries after %d puts", capacity, tt.len(), i+1)
			}
		}
		if n := tt.len(); n > tt.capacity || n < min(tt.capacity, 100_000)*9/10 {
			t.Errorf("capacity %d: %d entries after 100,000 puts", capacity, n)
		}
		if _, ok := tt.get("id-99999", 100_000); !ok {
			t.Errorf("capacity %d: the last id written is gone", capacity)
		}
	}
}

// TestTraceTableEvictsExpiredFirst fills a full shard with entries that
// have expired but one that is live and unreferenced: new entries take the
// expired slots, and the live one stays.
func TestTraceTableEvictsExpiredFirst(t *testing.T) {
	tt := newTraceTable(4, 10)
	tt.put("live", "s2", 100) // lives until 110
	for i := range 3 {
		tt.put("old-"+strconv.Itoa(i), "s2", 0) // expire at 10
	}
	tt.get("live", 50) // referenced: the hand passes it once
	for i := range 3 {
		tt.put("new-"+strconv.Itoa(i), "s3", 60)
	}
	if got, ok := tt.get("live", 61); !ok || got != "s2" {
		t.Errorf("live entry evicted before expired ones: %q, %v", got, ok)
	}
	for i := range 3 {
		if _, ok := tt.get("old-"+strconv.Itoa(i), 61); ok {
			t.Errorf("expired old-%d still served", i)
		}
	}
}

// TestTraceTableConcurrent hammers a small table from many goroutines
// (run with -race): the bound holds and no lookup returns a lane that was
// never written for its key.
func TestTraceTableConcurrent(t *testing.T) {
	tt := newTraceTable(512, int64(time.Hour))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				key := fmt.Sprintf("g%d-%d", g, i%700)
				lane := "lane-" + strconv.Itoa(g)
				tt.put(key, lane, int64(i))
				if got, ok := tt.get(key, int64(i)); ok && got != lane {
					t.Errorf("%s: got %q, want %q", key, got, lane)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := tt.len(); n > tt.capacity {
		t.Errorf("%d entries in a table of %d", n, tt.capacity)
	}
}

// TestTraceTableKeepsInFlight: a trace id the pod learnt is still known
// when its outbound call comes 0.4 × capacity newer trace ids later,
// whether or not an earlier call of the same request read it already. An
// entry must not be the first evicted just because nothing has read it
// yet: that is the request still in flight.
func TestTraceTableKeepsInFlight(t *testing.T) {
	for _, capacity := range []int{1024, 8192} { // one shard, eight
		tt := newTraceTable(capacity, int64(time.Hour))
		later := capacity * 4 / 10
		ids := make([]string, 10*capacity)
		for i := range ids {
			ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		}
		misses := 0
		for i := range ids {
			tt.put(ids[i], "s2", int64(i))
			if i%3 == 0 { // a first outbound call at once
				tt.get(ids[i], int64(i))
			}
			if j := i - later; j >= 0 {
				if _, ok := tt.get(ids[j], int64(i)); !ok {
					misses++
				}
			}
		}
		if misses > 0 {
			t.Errorf("capacity %d: %d of %d trace ids forgotten %d newer ones later", capacity, misses, len(ids)-later, later)
		}
	}
}

// TestTraceTableMemory measures the table's memory when full of
// UUID-sized trace ids and logs it per entry; it fails if an entry costs
// more than a generous bound, which would mean something (a header's whole
// buffer, say) is kept alive with it.
func TestTraceTableMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a full table")
	}
	const capacity = 100_000
	before := heapInUse()
	tt := newTraceTable(capacity, int64(time.Hour))
	empty := heapInUse()
	for i := range 2 * capacity {
		// 36 bytes, like the x-request-id the gateway makes.
		tt.put(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), "s2", int64(i))
	}
	full := heapInUse()
	runtime.KeepAlive(tt)
	perEntry := float64(full-before) / float64(tt.len())
	t.Logf("trace table of %d entries (%d shards): %.1f MiB preallocated, %.1f MiB full, %.0f bytes per entry with a 36-byte trace id",
		tt.capacity, len(tt.shards), float64(empty-before)/(1<<20), float64(full-before)/(1<<20), perEntry)
	if perEntry > 300 {
		t.Errorf("%.0f bytes per entry: more than the key, slot and map entry need", perEntry)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func BenchmarkTraceTable(b *testing.B) {
	tt := newTraceTable(65536, int64(time.Minute))
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		tt.put(ids[i], "s2", 0)
	}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tt.get(ids[i&4095], 1)
		}
	})
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tt.put(ids[i&4095], "s2", 1)
		}
	})
	b.Run("get-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				tt.get(ids[i&4095], 1)
				i++
			}
		})
	})
}
