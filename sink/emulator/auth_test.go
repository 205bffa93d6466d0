package emulator

import (
	"encoding/base64"
	"encoding/json"
	"io"
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

// TestLoginBodyIsBounded: a login, which anyone may send, is read up to a small limit: a
// large body is refused with 413, whether it announces its length or not, and never held.
func TestLoginBodyIsBounded(t *testing.T) {
	b := setup(t, Options{})
	big := `{"username":"a","loginMode":1,"password":"` + strings.Repeat("x", 1<<20) + `"}`
	c := newClient(t, b.url)
	wantError(t, c.send("POST", "/api/auth/login", []byte(big), nil), http.StatusRequestEntityTooLarge, "ERR006")

	// Chunked: the length is known only by reading.
	req, err := http.NewRequest("POST", b.url+"/api/auth/login", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked login of 1 MiB: status %d, want 413", resp.StatusCode)
	}
}

// TestEmulatorEndpointsNeedALoginWithUsers: with --user (Options.Users) the read-back and
// fault endpoints answer only a user's basic authentication or a login's token and cookie.
func TestEmulatorEndpointsNeedALoginWithUsers(t *testing.T) {
	b := setup(t, Options{Users: map[string]string{"alice": "secret"}})
	root := strings.TrimSuffix(b.url, "/MicroStrategyLibrary")
	basic := func(user, pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))}
	}
	endpoints := []struct{ method, path, body string }{
		{"GET", "/emulator/datasets", ""},
		{"GET", "/emulator/datasets/Sales/tables/orders", ""},
		{"GET", "/emulator/sessions", ""},
		{"GET", "/emulator/stats", ""},
		{"POST", "/emulator/faults/fail", `{"call":"model","n":1,"status":503}`},
		{"POST", "/emulator/faults/expire-sessions", ""},
		{"POST", "/emulator/faults/publish-delay", `{"delay":"1h"}`},
		{"POST", "/emulator/faults/fail-publish", `{"status":3,"message":"boom"}`},
		{"DELETE", "/emulator/faults", ""},
	}
	anon := newClient(t, root)
	for _, e := range endpoints {
		for _, h := range []map[string]string{nil, basic("alice", "wrong"), basic("mallory", "secret")} {
			var body any
			if e.body != "" {
				body = e.body
			}
			resp := anon.send(e.method, e.path, body, h)
			if resp.status != http.StatusUnauthorized {
				t.Errorf("%s %s with %v: status %d, want 401; body %s", e.method, e.path, h, resp.status, resp.body)
			}
		}
	}
	// No fault was armed by the refused calls: the next model call succeeds.
	b.c.createDataset(salesModel("Sales"))

	// With credentials: basic authentication, or the token and cookie of b.c's login.
	withBasic := anon.send("GET", "/emulator/datasets", nil, basic("alice", "secret"))
	if withBasic.status != http.StatusOK {
		t.Errorf("GET /emulator/datasets with alice's basic authentication: %d %s, want 200", withBasic.status, withBasic.body)
	}
	loggedIn := newClient(t, root)
	loggedIn.http.Jar = b.c.http.Jar
	loggedIn.token = b.c.token
	if resp := loggedIn.send("GET", "/emulator/stats", nil, nil); resp.status != http.StatusOK {
		t.Errorf("GET /emulator/stats with a login's token and cookie: %d %s, want 200", resp.status, resp.body)
	}
}
