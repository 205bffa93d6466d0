package sink

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// leakCatcher is a plain-HTTP server on its own port that records what reaches it.
type leakCatcher struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string // method, path, the token header and the body of each request
}

func newLeakCatcher(t *testing.T) *leakCatcher {
	t.Helper()
	lc := &leakCatcher{}
	lc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		lc.mu.Lock()
		lc.requests = append(lc.requests, r.Method+" "+r.URL.Path+" token="+r.Header.Get("X-MSTR-AuthToken")+" body="+string(body))
		lc.mu.Unlock()
		w.Header().Set("X-MSTR-AuthToken", "stolen")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(lc.Close)
	return lc
}

func (lc *leakCatcher) got() []string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return append([]string(nil), lc.requests...)
}

// TestRedirectsNeverLeaveTheConfiguredServer: an https base_url whose server answers 307
// to a plain-http address on another port must never send that address the password, the
// token or anything else; the call fails saying why.
func TestRedirectsNeverLeaveTheConfiguredServer(t *testing.T) {
	catcher := newLeakCatcher(t)
	var loggedIn bool
	var mu sync.Mutex
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		answerLogin := loggedIn
		mu.Unlock()
		if r.URL.Path == "/api/auth/login" && answerLogin {
			w.Header().Set("X-MSTR-AuthToken", "real-token")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.Redirect(w, r, catcher.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(tlsSrv.Close)

	newClient := func(t *testing.T) *Client {
		c, _, _ := newTestClient(t, tlsSrv.URL, func(cfg *Config) { cfg.HTTPClient = tlsSrv.Client() })
		return c
	}

	t.Run("login", func(t *testing.T) {
		err := newClient(t).Login(context.Background())
		if err == nil {
			t.Fatal("Login followed a redirect to another host and succeeded, want it refused")
		}
		if !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), catcher.URL) {
			t.Errorf("Login error %q, want it to say it refused a redirect to %s", err, catcher.URL)
		}
		if strings.Contains(err.Error(), testPassword) {
			t.Errorf("Login error shows the password: %q", err)
		}
	})

	t.Run("after login", func(t *testing.T) {
		mu.Lock()
		loggedIn = true
		mu.Unlock()
		c := newClient(t)
		if err := c.Login(context.Background()); err != nil {
			t.Fatalf("Login: %v", err)
		}
		if err := c.CancelSession(context.Background(), "0123456789ABCDEF0123456789ABCDEF", "S1"); err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("CancelSession error = %v, want a refused redirect", err)
		}
	})

	if got := catcher.got(); len(got) > 0 {
		t.Errorf("the plain-http server on another port received %d requests, want none:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// TestRedirectPolicy: only a redirect to the same scheme, host and port as base_url is
// followed.
func TestRedirectPolicy(t *testing.T) {
	c, err := NewClient(Config{BaseURL: "https://mstr.example.com/MicroStrategyLibrary", ProjectID: "P", Username: "u"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		to     string
		follow bool
	}{
		{"https://mstr.example.com/MicroStrategyLibrary/api/other", true},
		{"https://MSTR.example.com:443/MicroStrategyLibrary/api/other", true},
		{"http://mstr.example.com/MicroStrategyLibrary/api/other", false},
		{"https://mstr.example.com:8443/MicroStrategyLibrary/api/other", false},
		{"https://evil.example.com/MicroStrategyLibrary/api/other", false},
	} {
		req := httptest.NewRequest(http.MethodPost, tc.to, nil)
		via := []*http.Request{httptest.NewRequest(http.MethodPost, "https://mstr.example.com/MicroStrategyLibrary/api/auth/login", nil)}
		err := c.hc.CheckRedirect(req, via)
		if got := err == nil; got != tc.follow {
			t.Errorf("redirect to %s: followed = %v, want %v (err %v)", tc.to, got, tc.follow, err)
		}
	}
}
