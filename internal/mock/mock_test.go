package mock

import (
	"reflect"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"empty gets the default bind", nil, Config{Bind: ":8000"}},
		{
			"everything",
			map[string]string{"app": "mocka", "version": "v2", "upstream_url": "http://mockb:8000/",
				"bind": "127.0.1.1:9000", "POD_IP": "127.0.1.1", "HTTP_PROXY": "http://127.0.1.1:15001", "propagate": "baggage,x-request-id"},
			Config{App: "mocka", Version: "v2", UpstreamURL: "http://mockb:8000/", Bind: "127.0.1.1:9000",
				PodIP: "127.0.1.1", HTTPProxy: "http://127.0.1.1:15001", Propagate: []string{"Baggage", "X-Request-Id"}},
		},
		{"lower-case proxy", map[string]string{"http_proxy": "http://p:1"}, Config{Bind: ":8000", HTTPProxy: "http://p:1"}},
		{
			"upper-case proxy wins",
			map[string]string{"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:1"},
			Config{Bind: ":8000", HTTPProxy: "http://upper:1"},
		},
		{"names are case-sensitive", map[string]string{"APP": "x", "pod_ip": "1.2.3.4"}, Config{Bind: ":8000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ConfigFromEnv = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewClientRejectsBadProxyURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:15001", "ftp://p:1", "http://", "://x"} {
		if _, err := NewClient(u); err == nil {
			t.Errorf("NewClient(%q) succeeded, want an error", u)
		}
	}
	if _, err := NewClient("http://127.0.0.1:15001"); err != nil {
		t.Errorf("NewClient(valid URL): %v", err)
	}
}
