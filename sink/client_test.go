package sink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestNewClientConfig(t *testing.T) {
	base := Config{ProjectID: "P1", Username: "alice", Password: testPassword}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantAPI string
		wantErr string // substring; "" = no error
	}{
		{"plain", func(c *Config) { c.BaseURL = "https://mstr.example.com/MicroStrategyLibrary" }, "https://mstr.example.com/MicroStrategyLibrary/api", ""},
		{"trailing slash", func(c *Config) { c.BaseURL = "https://mstr.example.com/MicroStrategyLibrary/" }, "https://mstr.example.com/MicroStrategyLibrary/api", ""},
		{"with api", func(c *Config) { c.BaseURL = "https://mstr.example.com/MicroStrategyLibrary/api" }, "https://mstr.example.com/MicroStrategyLibrary/api", ""},
		{"with api and slash", func(c *Config) { c.BaseURL = " https://mstr.example.com/MicroStrategyLibrary/api/ " }, "https://mstr.example.com/MicroStrategyLibrary/api", ""},
		{"host only", func(c *Config) { c.BaseURL = "http://127.0.0.1:8910" }, "http://127.0.0.1:8910/api", ""},
		{"missing", func(c *Config) { c.BaseURL = "" }, "", "BaseURL: missing"},
		{"not http", func(c *Config) { c.BaseURL = "ftp://mstr.example.com/x" }, "", "not an http(s) URL"},
		{"credentials in url", func(c *Config) { c.BaseURL = "https://bob:" + testPassword + "@mstr.example.com/MicroStrategyLibrary" }, "", "carries credentials"},
		{"no project", func(c *Config) { c.BaseURL = "https://h/x"; c.ProjectID = "" }, "", "ProjectID: missing"},
		{"bad login mode", func(c *Config) { c.BaseURL = "https://h/x"; c.LoginMode = "kerberos" }, "", `unknown login mode "kerberos"`},
		{"no username", func(c *Config) { c.BaseURL = "https://h/x"; c.Username = "" }, "", "Username: missing"},
		{"api token missing", func(c *Config) {
			c.BaseURL = "https://h/x"
			c.LoginMode = "api_token"
			c.Username, c.Password = "", ""
		}, "", "missing API token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			c, err := NewClient(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewClient error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testPassword) {
					t.Errorf("NewClient error %q shows the password", err)
				}
				if !Permanent(err) {
					t.Errorf("Permanent(%v) = false, want true for a config error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			if c.api != tt.wantAPI {
				t.Errorf("API root = %q, want %q", c.api, tt.wantAPI)
			}
			if c.hc.Jar == nil {
				t.Error("client has no cookie jar")
			}
		})
	}
}

func TestNewClientKeepsCallersHTTPClient(t *testing.T) {
	mine := &http.Client{}
	c, err := NewClient(Config{BaseURL: "https://h/x", ProjectID: "P", Username: "u", HTTPClient: mine})
	if err != nil {
		t.Fatal(err)
	}
	if mine.Jar != nil {
		t.Error("NewClient set a cookie jar on the caller's http.Client; want it to work on a copy")
	}
	if c.hc.Jar == nil {
		t.Error("client's copy has no cookie jar")
	}
}

func TestLoginModes(t *testing.T) {
	tests := []struct {
		name         string
		mode         string
		user, pass   string
		wantUser     string
		wantPassword string
		wantMode     float64
	}{
		{"standard", "", "alice", testPassword, "alice", testPassword, 1},
		{"ldap", "LDAP", "alice", testPassword, "alice", testPassword, 16},
		{"api token as username", "api_token", "tok-123456", "", "tok-123456", "", 4096},
		{"api token as password", "api_token", "", "tok-123456", "tok-123456", "", 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"id":"D1"}`))
			})
			c, _, _ := loggedIn(t, srv.URL, func(c *Config) { c.LoginMode, c.Username, c.Password = tt.mode, tt.user, tt.pass })
			got := srv.loginBodies()[0]
			if got["username"] != tt.wantUser || got["password"] != tt.wantPassword || got["loginMode"] != tt.wantMode {
				t.Errorf("login body = %v, want username %q password %q loginMode %v", got, tt.wantUser, tt.wantPassword, tt.wantMode)
			}
			// A later call carries the token, the cookie (checked by testServer) and the project.
			if _, err := c.CreateDataset(context.Background(), Model{Name: "S", Tables: []ModelTable{{Name: "t"}}}); err != nil {
				t.Fatalf("CreateDataset after login: %v", err)
			}
			if got := srv.request(0).Header.Get("X-MSTR-ProjectID"); got != c.cfg.ProjectID {
				t.Errorf("X-MSTR-ProjectID = %q, want %q", got, c.cfg.ProjectID)
			}
		})
	}
}

func TestLoginFailure(t *testing.T) {
	srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-MSTR-ProjectID") != "" {
			t.Errorf("login sent X-MSTR-ProjectID; want it only on later calls")
		}
		writeMSTRError(w, http.StatusUnauthorized, "ERR003", "Login failure for "+testPassword, "T9")
	})
	c, _, logs := newTestClient(t, srv.URL)
	err := c.Login(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Status != 401 || e.Code != "ERR003" {
		t.Fatalf("Login error = %v, want a 401 ERR003 *Error", err)
	}
	if !strings.Contains(err.Error(), "check the Username, Password and LoginMode") {
		t.Errorf("Login error %q does not say which Config fields to check", err)
	}
	// A caller whose users set the fields under other names has the message use those.
	named, _, _ := newTestClient(t, srv.URL, func(c *Config) {
		c.Names = map[string]string{"Username": "username", "Password": "password", "LoginMode": "login_mode"}
	})
	if err := named.Login(context.Background()); err == nil || !strings.Contains(err.Error(), "check the username, password and login_mode") {
		t.Errorf("Login error with Names %q does not name the fields as the caller's users know them", err)
	}
	if strings.Contains(err.Error(), testPassword) || strings.Contains(logs.String(), testPassword) {
		t.Errorf("the password leaked: error %q, logs %q", err, logs)
	}
	if e.Attempts != 1 {
		t.Errorf("a 401 login was sent %d times, want once", e.Attempts)
	}
}

func TestLoginWithoutToken(t *testing.T) {
	srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	c, _, _ := newTestClient(t, srv.URL)
	err := c.Login(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no X-MSTR-AuthToken") {
		t.Fatalf("Login error = %v, want one saying the server sent no token", err)
	}
}

func TestLogout(t *testing.T) {
	t.Run("without login", func(t *testing.T) {
		srv := newTestServer(t, nil)
		c, _, _ := newTestClient(t, srv.URL)
		if err := c.Logout(context.Background()); err != nil {
			t.Fatalf("Logout before Login = %v, want nil", err)
		}
		if srv.loginCount() != 0 || len(srv.calls()) != 0 {
			t.Errorf("Logout before Login made calls")
		}
	})
	t.Run("logged in", func(t *testing.T) {
		srv := newTestServer(t, nil)
		c, _, _ := loggedIn(t, srv.URL)
		if err := c.Logout(context.Background()); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		logout := srv.logoutRequest()
		if logout == nil {
			t.Fatal("Logout sent no logout call")
		}
		if got := logout.Header.Get("X-MSTR-ProjectID"); got != "" {
			t.Errorf("logout sent X-MSTR-ProjectID %q, want none", got)
		}
		if srv.currentToken() != "" {
			t.Error("the server still has the login session after Logout")
		}
		if err := c.Logout(context.Background()); err != nil {
			t.Errorf("second Logout = %v, want nil", err)
		}
	})
	t.Run("session already gone", func(t *testing.T) {
		srv := newTestServer(t, nil)
		c, _, _ := loggedIn(t, srv.URL)
		srv.expireSession()
		if err := c.Logout(context.Background()); err != nil {
			t.Fatalf("Logout of an expired session = %v, want nil (401 ERR009 counts as done)", err)
		}
		if srv.loginCount() != 1 {
			t.Errorf("Logout logged in again (%d logins)", srv.loginCount())
		}
	})
}

func TestExpiredLoginIsRenewed(t *testing.T) {
	t.Run("once per call", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id":"D1"}`)) })
		c, _, _ := loggedIn(t, srv.URL)
		srv.expireSession()
		id, err := c.CreateDataset(context.Background(), Model{Name: "S", Tables: []ModelTable{{Name: "t"}}})
		if err != nil || id != "D1" {
			t.Fatalf("CreateDataset after expiry = %q, %v; want D1 after logging in again", id, err)
		}
		if srv.loginCount() != 2 {
			t.Errorf("logins = %d, want 2", srv.loginCount())
		}
	})
	t.Run("still expired after renewal", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeMSTRError(w, http.StatusUnauthorized, "ERR009", "session invalid", "")
		})
		c, _, _ := loggedIn(t, srv.URL)
		_, err := c.CreateDataset(context.Background(), Model{Name: "S", Tables: []ModelTable{{Name: "t"}}})
		if !IsSessionExpired(err) {
			t.Fatalf("CreateDataset error = %v, want a session-expired error", err)
		}
		if srv.loginCount() != 2 {
			t.Errorf("logins = %d, want 2 (one renewal per call, no loop)", srv.loginCount())
		}
		if Permanent(err) {
			t.Errorf("Permanent(%v) = true, want false for a 401", err)
		}
	})
	t.Run("concurrent calls renew once", func(t *testing.T) {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id":"D1"}`)) })
		c, _, _ := loggedIn(t, srv.URL)
		// Invalidate the token on the server without a new login: every call fails once.
		srv.setToken("secret-token-gone")
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = c.CreateDataset(context.Background(), Model{Name: fmt.Sprint("S", i), Tables: []ModelTable{{Name: "t"}}})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		if got := srv.loginCount(); got != 2 {
			t.Errorf("logins = %d, want 2: concurrent calls must share one renewal", got)
		}
	})
}
