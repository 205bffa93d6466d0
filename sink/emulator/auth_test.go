package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		body   any
		status int
		code   string
	}{
		{"json standard, any user", Options{}, map[string]any{"username": "a", "password": "b", "loginMode": 1}, 204, ""},
		{"form standard", Options{Users: map[string]string{"alice": "secret", "carol": "pw"}}, url.Values{"username": {"carol"}, "password": {"pw"}, "loginMode": {"1"}, "applicationType": {"76"}}, 204, ""},
		{"form ldap", Options{Users: map[string]string{"alice": "secret", "carol": "pw"}}, url.Values{"username": {"carol"}, "password": {"pw"}, "loginMode": {"16"}}, 204, ""},
		{"json login mode as string", Options{}, map[string]any{"username": "a", "password": "b", "loginMode": "1"}, 204, ""},
		{"wrong password", Options{Users: map[string]string{"alice": "secret", "carol": "pw"}}, map[string]any{"username": "carol", "password": "nope", "loginMode": 1}, 401, "ERR003"},
		{"unknown user", Options{Users: map[string]string{"alice": "secret", "carol": "pw"}}, url.Values{"username": {"bob"}, "password": {"pw"}, "loginMode": {"1"}}, 401, "ERR003"},
		{"empty username", Options{}, map[string]any{"username": "", "password": "b", "loginMode": 1}, 401, "ERR003"},
		{"api token, any", Options{}, map[string]any{"username": "tok", "loginMode": 4096}, 204, ""},
		{"api token accepted", Options{APITokens: []string{"tok"}}, map[string]any{"username": "tok", "loginMode": 4096}, 204, ""},
		{"api token refused", Options{APITokens: []string{"tok"}}, map[string]any{"username": "other", "loginMode": 4096}, 401, "ERR003"},
		{"unknown mode", Options{}, map[string]any{"username": "a", "loginMode": 2}, 400, "ERR006"},
		{"bad json", Options{}, `{"username":`, 400, "ERR006"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, Options{Users: tt.opts.Users, APITokens: tt.opts.APITokens, SessionIdle: time.Minute})
			c := newClient(t, b.url)
			resp := c.send("POST", "/api/auth/login", tt.body, nil)
			if tt.status != http.StatusNoContent {
				wantError(t, resp, tt.status, tt.code)
				if string(resp.body) != "" && json.Valid(resp.body) {
					var e struct{ Message string }
					_ = json.Unmarshal(resp.body, &e)
					for _, secret := range []string{"nope", "tok\"", "other"} {
						if strings.Contains(e.Message, secret) {
							t.Errorf("error message %q repeats the secret %q", e.Message, secret)
						}
					}
				}
				return
			}
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			if resp.header.Get("X-MSTR-AuthToken") == "" {
				t.Error("no X-MSTR-AuthToken header")
			}
			cookies := map[string]bool{}
			for _, ck := range (&http.Response{Header: resp.header}).Cookies() {
				cookies[ck.Name] = true
			}
			if !cookies["JSESSIONID"] || !cookies["iSession"] {
				t.Errorf("cookies set = %v, want JSESSIONID and iSession", cookies)
			}
			c.token = resp.header.Get("X-MSTR-AuthToken")
			c.must(http.StatusOK, "GET", "/api/sessions", nil)
		})
	}
}

func TestAuthRequired(t *testing.T) {
	b := setup(t, Options{})
	t.Run("no token", func(t *testing.T) {
		resp := b.c.send("GET", "/api/sessions", nil, map[string]string{"X-MSTR-AuthToken": ""})
		wantError(t, resp, http.StatusUnauthorized, "ERR009", "X-MSTR-AuthToken")
	})
	t.Run("token without its cookie", func(t *testing.T) {
		bare := newClient(t, b.url) // empty cookie jar
		bare.token = b.c.token
		resp := bare.send("GET", "/api/sessions", nil, nil)
		wantError(t, resp, http.StatusUnauthorized, "ERR009", "JSESSIONID")
	})
	t.Run("token with another login's cookie", func(t *testing.T) {
		other := newClient(t, b.url)
		other.login("bob", "pw")
		other.token = b.c.token
		resp := other.send("GET", "/api/sessions", nil, nil)
		wantError(t, resp, http.StatusUnauthorized, "ERR009", "JSESSIONID")
	})
	t.Run("unknown token", func(t *testing.T) {
		resp := b.c.send("GET", "/api/sessions", nil, map[string]string{"X-MSTR-AuthToken": "0123"})
		wantError(t, resp, http.StatusUnauthorized, "ERR009")
	})
	t.Run("dataset calls need the project header", func(t *testing.T) {
		resp := b.c.send("POST", "/api/datasets/models", salesModel("Sales"), map[string]string{"X-MSTR-ProjectID": ""})
		wantError(t, resp, http.StatusBadRequest, "ERR005", "X-MSTR-ProjectID")
	})
	t.Run("status needs no login", func(t *testing.T) {
		anon := newClient(t, b.url)
		anon.must(http.StatusOK, "GET", "/api/status", nil)
	})
}

func TestSessionExpiry(t *testing.T) {
	t.Run("ExpireSessions", func(t *testing.T) {
		b := setup(t, Options{})
		b.c.must(http.StatusOK, "GET", "/api/sessions", nil)
		b.srv.ExpireSessions()
		wantError(t, b.c.send("GET", "/api/sessions", nil, nil), http.StatusUnauthorized, "ERR009")
		wantError(t, b.c.send("POST", "/api/auth/logout", nil, nil), http.StatusUnauthorized, "ERR009")
		b.c.login("alice", "secret")
		b.c.must(http.StatusOK, "GET", "/api/sessions", nil)
	})
	t.Run("idle timeout", func(t *testing.T) {
		b := setup(t, Options{SessionIdle: time.Minute})
		now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		b.srv.mu.Lock()
		b.srv.now = func() time.Time { return now }
		b.srv.mu.Unlock()
		b.c.login("alice", "secret")
		advance := func(d time.Duration) {
			b.srv.mu.Lock()
			now = now.Add(d)
			b.srv.mu.Unlock()
		}
		advance(50 * time.Second)
		b.c.must(http.StatusOK, "GET", "/api/sessions", nil) // in use: the idle clock restarts
		advance(50 * time.Second)
		b.c.must(http.StatusOK, "GET", "/api/sessions", nil)
		advance(61 * time.Second)
		wantError(t, b.c.send("GET", "/api/sessions", nil, nil), http.StatusUnauthorized, "ERR009")
	})
	t.Run("upload session survives a re-login", func(t *testing.T) {
		b := setup(t, Options{})
		ds := b.c.createDataset(salesModel("Sales"))
		sid := b.c.openSession(ds, colTable("orders", "add", "order_id", "store", "amount", "qty"))
		b.c.mustPut(ds, sid, "orders", 1, `[[1],["a"],[1],[1]]`)
		b.srv.ExpireSessions()
		wantError(t, b.c.put(ds, sid, "orders", 2, `[[2],["b"],[2],[2]]`), http.StatusUnauthorized, "ERR009")
		b.c.login("alice", "secret")
		b.c.mustPut(ds, sid, "orders", 2, `[[2],["b"],[2],[2]]`)
		b.c.mustPublish(ds, sid)
		if got := rows(t, b.srv, ds, "orders"); len(got) != 2 {
			t.Errorf("orders = %v, want 2 rows", got)
		}
	})
}
