package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/api"
)

func TestPlan(t *testing.T) {
	cur := func(ready bool) podView { return podView{current: true, ready: ready} }
	old := func(ready bool) podView { return podView{current: false, ready: ready} }
	tests := []struct {
		name       string
		pods       []podView
		want       int
		wantCreate int
		wantStop   []int
	}{
		{"fresh", nil, 3, 3, nil},
		{"steady", []podView{cur(true), cur(true)}, 2, 0, nil},
		{"scale up", []podView{cur(true)}, 3, 2, nil},
		{"scale down stops newest", []podView{cur(true), cur(true), cur(true)}, 1, 0, []int{1, 2}},
		{"scale down stops unready first", []podView{cur(false), cur(true), cur(true)}, 2, 0, []int{0}},
		{"scale to zero", []podView{cur(true), cur(false)}, 0, 0, []int{0, 1}},
		{"template changed: surge, keep old", []podView{old(true), old(true)}, 2, 2, nil},
		{"rollout: one new ready frees one old", []podView{old(true), old(true), cur(true), cur(false)}, 2, 0, []int{1}},
		{"rollout: unready old goes first", []podView{old(true), old(false), cur(true), cur(false)}, 2, 0, []int{1}},
		{"rollout done", []podView{old(true), cur(true), cur(true)}, 2, 0, []int{0}},
		{"rollout to zero replicas", []podView{old(true), old(true)}, 0, 0, []int{0, 1}},
		{"deleted deployment", []podView{old(true), old(false)}, 0, 0, []int{0, 1}},
		{"scale down mid-rollout", []podView{old(true), old(true), old(true), cur(true)}, 1, 0, []int{0, 1, 2}},
		{"new pods never ready: old stay", []podView{old(true), cur(false)}, 1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create, stop := plan(tt.pods, tt.want)
			if create != tt.wantCreate || !slices.Equal(stop, tt.wantStop) {
				t.Errorf("plan = create %d, stop %v; want create %d, stop %v", create, stop, tt.wantCreate, tt.wantStop)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	var b backoff
	var got []time.Duration
	for range 7 {
		got = append(got, b.next(time.Second))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(got, want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
	if d := b.next(time.Minute); d != time.Second {
		t.Errorf("after a minute of running the delay is %v, want it reset to 1s", d)
	}
}

func TestSlotsReuseTheSmallestFree(t *testing.T) {
	var s slots
	for want := 1; want <= 3; want++ {
		if n := s.take(); n != want {
			t.Fatalf("take = %d, want %d", n, want)
		}
	}
	s.release(2)
	s.release(1)
	if a, b, c := s.take(), s.take(), s.take(); a != 1 || b != 2 || c != 4 {
		t.Errorf("after releasing 1 and 2: took %d %d %d, want 1 2 4", a, b, c)
	}
}

func TestRingBufferKeepsTheTail(t *testing.T) {
	b := NewLogBuffer(16)
	b.Write([]byte("one\n"))
	if got := string(b.Bytes()); got != "one\n" {
		t.Fatalf("Bytes = %q", got)
	}
	for i := range 10 {
		fmt.Fprintf(b, "line %d\n", i)
	}
	// The last 16 bytes are "7\nline 8\nline 9\n"; the partial first line
	// is dropped.
	if got := string(b.Bytes()); got != "line 8\nline 9\n" {
		t.Errorf("Bytes = %q, want the last whole lines", got)
	}
	big := bytes.Repeat([]byte("x"), 40)
	if n, _ := b.Write(big); n != 40 {
		t.Errorf("Write returned %d, want 40", n)
	}
	if got := b.Bytes(); !bytes.Equal(got, big[:16]) {
		t.Errorf("after a write larger than the buffer, Bytes = %q, want its last 16 bytes", got)
	}
}

func TestProcessEnv(t *testing.T) {
	base := []string{"PATH=/bin", "HTTP_PROXY=http://corp:3128", "no_proxy=*", "POD_IP=1.2.3.4", "HOME=/root"}
	c := api.Container{Env: []api.EnvVar{{Name: "app", Value: "mocka"}}}
	got := strings.Join(processEnv(base, c, "127.0.1.3", "http://127.0.1.3:15001"), " ")
	want := "PATH=/bin HOME=/root app=mocka POD_IP=127.0.1.3 HTTP_PROXY=http://127.0.1.3:15001 http_proxy=http://127.0.1.3:15001"
	if got != want {
		t.Errorf("env = %s\nwant  %s", got, want)
	}
	got = strings.Join(processEnv(base, c, "127.0.1.3", ""), " ")
	if want := "PATH=/bin HOME=/root app=mocka POD_IP=127.0.1.3"; got != want {
		t.Errorf("env without sidecar = %s\nwant  %s", got, want)
	}
}

func TestAppPort(t *testing.T) {
	tests := []struct {
		name string
		c    api.Container
		want uint32
	}{
		{"default", api.Container{}, 8000},
		{"first declared port", api.Container{Ports: []api.ContainerPort{{ContainerPort: 9090}, {ContainerPort: 9091}}}, 9090},
		{"mock bind variable", api.Container{Env: []api.EnvVar{{Name: "bind", Value: ":7000"}}}, 7000},
		{"unparsable bind", api.Container{Env: []api.EnvVar{{Name: "bind", Value: "7000"}}}, 8000},
	}
	for _, tt := range tests {
		if got := appPort(tt.c); got != tt.want {
			t.Errorf("%s: appPort = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestResolvePort(t *testing.T) {
	c := api.Container{Name: "app", Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	if p, err := resolvePort(c, api.IntOrString{Str: "http"}); p != 8080 || err != nil {
		t.Errorf("named port = %d, %v", p, err)
	}
	if p, err := resolvePort(c, api.IntOrString{Int: 9000}); p != 9000 || err != nil {
		t.Errorf("numbered port = %d, %v", p, err)
	}
	if _, err := resolvePort(c, api.IntOrString{Str: "grpc"}); err == nil || !strings.Contains(err.Error(), `"grpc"`) {
		t.Errorf("unknown name: err = %v", err)
	}
	if _, err := resolvePort(c, api.IntOrString{}); err == nil {
		t.Error("port 0 resolved")
	}
}

func TestApplyRejectsDuplicates(t *testing.T) {
	r := New(Options{})
	d := &api.Deployment{Metadata: api.ObjectMeta{Name: "a", Namespace: "default"}}
	if err := r.Apply([]*api.Deployment{d, d}); err == nil || !strings.Contains(err.Error(), "default/a") {
		t.Errorf("Apply with a duplicate = %v", err)
	}
}

func TestProberThresholds(t *testing.T) {
	results := []bool{true, true, false, true, false, false, true}
	want := []bool{false, true, true, true, true, false, false}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	i := 0
	pr := prober{
		period: time.Millisecond, timeout: time.Second, success: 2, failure: 2,
		check: func(context.Context) error {
			if i == len(results) {
				cancel() // the script is over; the prober must not report this
				return errors.New("over")
			}
			i++
			if results[i-1] {
				return nil
			}
			return errors.New("down")
		},
	}
	var got []bool
	var msgs []string
	pr.run(ctx, func(ready bool, msg string) { got, msgs = append(got, ready), append(msgs, msg) })
	if !slices.Equal(got, want) {
		t.Errorf("readiness = %v, want %v (success threshold 2, failure threshold 2)", got, want)
	}
	if msgs[5] != "readiness probe failed: down" || msgs[1] != "" {
		t.Errorf("messages = %q", msgs)
	}
}

func TestLogBufferFrom(t *testing.T) {
	b := NewLogBuffer(16)
	b.Write([]byte("one\n"))
	got, end := b.From(0)
	if string(got) != "one\n" || end != 4 {
		t.Fatalf("From(0) = %q, %d", got, end)
	}
	if got, end = b.From(end); len(got) != 0 || end != 4 {
		t.Fatalf("From(end) = %q, %d; want nothing new", got, end)
	}
	b.Write([]byte("two\n"))
	if got, end = b.From(4); string(got) != "two\n" || end != 8 {
		t.Fatalf("From(4) = %q, %d; want only what came after", got, end)
	}
	for i := range 10 {
		fmt.Fprintf(b, "line %d\n", i)
	}
	// Far behind: what is still kept, whole lines only.
	if got, end = b.From(4); string(got) != "line 8\nline 9\n" || end != 8+70 {
		t.Fatalf("From(4) after wrapping = %q, %d", got, end)
	}
}
