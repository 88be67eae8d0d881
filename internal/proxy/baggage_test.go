package proxy

import (
	"strconv"
	"strings"
	"testing"
)

func TestBaggageValue(t *testing.T) {
	for name, tc := range map[string]struct {
		hs   []string
		want string
		ok   bool
	}{
		"alone":             {[]string{"x-asm-prefer-tag=s2"}, "s2", true},
		"among others":      {[]string{"userId=alice, x-asm-prefer-tag = s2 ;p1;p2=v, serverNode=DF%2028"}, "s2", true},
		"second line":       {[]string{"userId=alice", "x-asm-prefer-tag=s3"}, "s3", true},
		"percent-encoded":   {[]string{"x-asm-prefer-tag=s%32"}, "s2", true},
		"empty entries":     {[]string{",,x-asm-prefer-tag=s2,"}, "s2", true},
		"absent":            {[]string{"userId=alice"}, "", false},
		"no header":         {nil, "", false},
		"key is a prefix":   {[]string{"x-asm-prefer-tags=s2"}, "", false},
		"keys are exact":    {[]string{"X-Asm-Prefer-Tag=s2"}, "", false},
		"invalid member":    {[]string{"userId alice, x-asm-prefer-tag=s2"}, "", false},
		"quote in value":    {[]string{`x-asm-prefer-tag="s2"`}, "", false},
		"bad escape":        {[]string{"x-asm-prefer-tag=s%2"}, "", false},
		"bad property":      {[]string{"x-asm-prefer-tag=s2;a b"}, "", false},
		"too long":          {[]string{"x-asm-prefer-tag=s2," + strings.Repeat("k=v,", 2100)}, "", false},
		"too many members":  {[]string{"x-asm-prefer-tag=s2" + strings.Repeat(",k=v", maxBaggageMembers)}, "", false},
		"most members kept": {[]string{"x-asm-prefer-tag=s2" + strings.Repeat(",k=v", maxBaggageMembers-1)}, "s2", true},
	} {
		got, ok := baggageValue(tc.hs, "x-asm-prefer-tag")
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q, %v; want %q, %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWithBaggageMember(t *testing.T) {
	for name, tc := range map[string]struct {
		hs   []string
		want string
	}{
		"none":            {nil, "x-asm-prefer-tag=s2"},
		"added first":     {[]string{"userId=alice;p=1, serverNode=DF%2028"}, "x-asm-prefer-tag=s2,userId=alice;p=1,serverNode=DF%2028"},
		"replaced":        {[]string{"a=1,x-asm-prefer-tag=s1;p,b=2"}, "x-asm-prefer-tag=s2,a=1,b=2"},
		"lines joined":    {[]string{"a=1", "b=2"}, "x-asm-prefer-tag=s2,a=1,b=2"},
		"invalid dropped": {[]string{"a=1,this is not baggage"}, "x-asm-prefer-tag=s2"},
	} {
		if got := withBaggageMember(tc.hs, "x-asm-prefer-tag", "s2"); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	// A lane that is not a baggage octet string is percent-encoded, and
	// reads back as it was.
	got := withBaggageMember(nil, "lane", "a b,c;d%")
	if got != "lane=a%20b%2Cc%3Bd%25" {
		t.Errorf("encoded: %q", got)
	}
	if v, ok := baggageValue([]string{got}, "lane"); !ok || v != "a b,c;d%" {
		t.Errorf("read back %q, %v", v, ok)
	}
	// Full baggage: members are dropped from the end so that the lane fits.
	var full []string
	for i := range maxBaggageMembers {
		full = append(full, "k"+strconv.Itoa(i)+"=v")
	}
	out := withBaggageMember([]string{strings.Join(full, ",")}, "lane", "s2")
	if members, ok := splitBaggage([]string{out}); !ok || len(members) != maxBaggageMembers || members[0].raw != "lane=s2" ||
		members[len(members)-1].key != "k"+strconv.Itoa(maxBaggageMembers-2) {
		t.Errorf("full baggage: %d members, valid %v, first %v", len(members), ok, members[:1])
	}
	long := "big=" + strings.Repeat("x", maxBaggageBytes-10)
	if out := withBaggageMember([]string{"a=1," + long}, "lane", "s2"); out != "lane=s2,a=1" {
		t.Errorf("a member that would pass the byte limit is dropped: %.40q", out)
	}
}

// FuzzBaggage feeds arbitrary baggage (it is untrusted: it comes from the
// app's callers) to both operations: neither panics, the header written is
// valid baggage within the limits whose lane member reads back, and what
// it keeps of the input is members the input had.
func FuzzBaggage(f *testing.F) {
	for _, s := range []string{"", "a=1", "a=1;p;q=2, b = %41", "x-asm-prefer-tag=s1,a=b", ",,,", "a=%zz", "a=\"b\"",
		strings.Repeat("k=v,", 200), "k=" + strings.Repeat("v", 9000), "ä=1", "a=1;;", "a\t=\t1"} {
		f.Add(s, "s2")
	}
	f.Fuzz(func(t *testing.T, in, lane string) {
		if !validLane(lane) {
			lane = "s2"
		}
		hs := []string{in}
		old, oldOK := splitBaggage(hs)
		baggageValue(hs, "x-asm-prefer-tag")
		out := withBaggageMember(hs, "x-asm-prefer-tag", lane)
		if len(out) > maxBaggageBytes {
			t.Fatalf("%d bytes written", len(out))
		}
		members, ok := splitBaggage([]string{out})
		if !ok || len(members) > maxBaggageMembers {
			t.Fatalf("wrote invalid baggage %q (from %q)", out, in)
		}
		if v, ok := baggageValue([]string{out}, "x-asm-prefer-tag"); !ok || v != lane {
			t.Fatalf("lane reads back as %q, %v from %q", v, ok, out)
		}
		kept := map[string]bool{}
		if oldOK {
			for _, m := range old {
				kept[m.raw] = true
			}
		}
		for _, m := range members[1:] {
			if !kept[m.raw] || m.key == "x-asm-prefer-tag" {
				t.Fatalf("member %q was not in the input %q", m.raw, in)
			}
		}
	})
}
