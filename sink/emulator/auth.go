package emulator

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Login modes of POST /api/auth/login.
const (
	loginStandard  = 1
	loginLDAP      = 16
	loginAnonymous = 8
	loginAPIToken  = 4096
)

// login is one authenticated session: its token and the cookie a client must send with it.
type login struct {
	token      string
	jsessionID string
	username   string
	mode       int
	lastUsed   time.Time
}

// loginBody is the login request, sent as JSON or form-encoded.
type loginBody struct {
	Username  string
	Password  string
	LoginMode int
}

func (s *Server) handleLogin(w http.ResponseWriter, req *request) error {
	body, err := parseLogin(req.r)
	if err != nil {
		return err
	}
	if err := s.checkCredentials(body); err != nil {
		s.log.Info("login refused", "login_mode", body.LoginMode)
		return err
	}
	l := &login{token: newID(), jsessionID: newID(), username: body.Username, mode: body.LoginMode}
	if body.LoginMode == loginAPIToken {
		l.username = "api-token-user" // the token itself is a secret
	}
	s.mu.Lock()
	l.lastUsed = s.now()
	for token, old := range s.logins { // forget timed-out logins
		if l.lastUsed.Sub(old.lastUsed) > s.opts.SessionIdle {
			delete(s.logins, token)
		}
	}
	s.logins[l.token] = l
	s.mu.Unlock()
	w.Header().Set("X-MSTR-AuthToken", l.token)
	http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: l.jsessionID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: "iSession", Value: newID(), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseLogin reads a login body: JSON (the R client, and the Python client for API tokens)
// or form-encoded (the Python client for standard and LDAP logins).
func parseLogin(r *http.Request) (loginBody, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return loginBody{}, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	trimmed := strings.TrimSpace(string(raw))
	var b loginBody
	if ct == "application/json" || strings.HasPrefix(trimmed, "{") {
		var j struct {
			Username  string          `json:"username"`
			Password  string          `json:"password"`
			LoginMode json.RawMessage `json:"loginMode"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return b, badInput("Invalid JSON in login body: %v", err)
		}
		mode, err := loginMode(strings.Trim(string(j.LoginMode), `"`))
		if err != nil {
			return b, err
		}
		return loginBody{Username: j.Username, Password: j.Password, LoginMode: mode}, nil
	}
	form, err := url.ParseQuery(trimmed)
	if err != nil {
		return b, badInput("invalid form-encoded login body: %v", err)
	}
	mode, err := loginMode(form.Get("loginMode"))
	if err != nil {
		return b, err
	}
	return loginBody{Username: form.Get("username"), Password: form.Get("password"), LoginMode: mode}, nil
}

func loginMode(s string) (int, error) {
	if s == "" || s == "null" {
		return loginStandard, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badInput("invalid loginMode %q (want 1 standard, 16 LDAP, 4096 API token or 8 anonymous)", s)
	}
	return n, nil
}

func (s *Server) checkCredentials(b loginBody) error {
	failed := errorf(http.StatusUnauthorized, "ERR003", "login failed: wrong username, password or token")
	switch b.LoginMode {
	case loginStandard, loginLDAP:
		if b.Username == "" {
			return failed
		}
		if s.opts.Users == nil {
			return nil
		}
		want, ok := s.opts.Users[b.Username]
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(b.Password)) != 1 {
			return failed
		}
		return nil
	case loginAPIToken:
		if b.Username == "" {
			return failed
		}
		if s.opts.APITokens == nil || slices.Contains(s.opts.APITokens, b.Username) {
			return nil
		}
		return failed
	case loginAnonymous:
		if s.opts.Users == nil {
			return nil
		}
		return errorf(http.StatusUnauthorized, "ERR003", "login failed: anonymous login is disabled on this server")
	}
	return badInput("unsupported loginMode %d (want 1 standard, 16 LDAP, 4096 API token or 8 anonymous)", b.LoginMode)
}

// authenticate finds the login a request belongs to. Like a real deployment it needs both the
// token header and the JSESSIONID cookie set with it; an idle session has timed out.
func (s *Server) authenticate(r *http.Request) (*login, *apiError) {
	token := r.Header.Get("X-MSTR-AuthToken")
	if token == "" {
		return nil, errorf(http.StatusUnauthorized, "ERR009", "missing X-MSTR-AuthToken header: log in first and send the token with every call")
	}
	cookie, err := r.Cookie("JSESSIONID")
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.logins[token]
	if !ok {
		return nil, sessionInvalid()
	}
	now := s.now()
	if now.Sub(l.lastUsed) > s.opts.SessionIdle {
		delete(s.logins, token)
		return nil, sessionInvalid()
	}
	if err != nil || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(l.jsessionID)) != 1 {
		// A load balancer without the session cookie sends the call to a node that does not
		// know the token: the real server answers as for an unknown session.
		return nil, errorf(http.StatusUnauthorized, "ERR009", "the user session is invalid: the JSESSIONID cookie set at login is missing or does not belong to this token (keep every cookie from login)")
	}
	l.lastUsed = now
	return l, nil
}

func (s *Server) handleLogout(w http.ResponseWriter, req *request) error {
	l, err := s.authenticate(req.r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.logins, l.token)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "", Path: "/", MaxAge: -1})
	http.SetCookie(w, &http.Cookie{Name: "iSession", Value: "", Path: "/", MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ExpireSessions invalidates every login session: the next call of each client fails with
// 401 ERR009, as after a server-side timeout.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	n := len(s.logins)
	clear(s.logins)
	s.mu.Unlock()
	s.log.Info("sessions expired", "sessions", n)
}

// serverVersion is what GET /api/status reports: the version the official Python client was
// recorded against.
const serverVersion = "11.4.0300"

func (s *Server) handleStatus(w http.ResponseWriter, _ *request) error {
	writeJSON(w, http.StatusOK, map[string]any{"webVersion": serverVersion, "iServerVersion": serverVersion})
	return nil
}

func (s *Server) handleSessions(w http.ResponseWriter, req *request) error {
	writeJSON(w, http.StatusOK, map[string]any{
		"locale":       1033,
		"maxSearch":    3,
		"workingSet":   10,
		"timeout":      int(s.opts.SessionIdle / time.Second),
		"id":           req.login.jsessionID,
		"userId":       "54F3D26011D2896560009A8E67019608",
		"userFullName": req.login.username,
		"username":     req.login.username,
	})
	return nil
}

// handleExtendSession answers PUT /api/sessions, which clients call to keep a session alive;
// authenticate has already touched it.
func (s *Server) handleExtendSession(w http.ResponseWriter, _ *request) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// defaultProjectID is the project GET /api/projects lists when the request names none: the id
// of MicroStrategy Tutorial, which many scripts use.
const defaultProjectID = "B7CA92F04B9FAE8D941C3E9B7E0CD754"

// handleProjects lists one project: the emulator holds datasets for any project id, so it
// lists the one the client asked with, or the default.
func (s *Server) handleProjects(w http.ResponseWriter, req *request) error {
	id := cmp.Or(req.r.Header.Get("X-MSTR-ProjectID"), defaultProjectID)
	writeJSON(w, http.StatusOK, []map[string]any{{
		"id": id, "name": "Emulated Project", "alias": "", "description": "project served by the cubesync emulator",
		"status": 0, "owner": map[string]any{"id": "54F3D26011D2896560009A8E67019608", "name": "Administrator"},
	}})
	return nil
}

// Object types of GET /api/objects/{id}?type=N.
const (
	objectTypeCube    = 3
	objectTypeProject = 32
)

func (s *Server) handleObject(w http.ResponseWriter, req *request) error {
	id := req.params["id"]
	typ := req.r.URL.Query().Get("type")
	switch typ {
	case strconv.Itoa(objectTypeProject):
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "name": "Emulated Project", "type": objectTypeProject, "subtype": 8192,
			"description": "project served by the cubesync emulator", "abbreviation": "",
			"dateCreated": "2024-01-01T00:00:00.000+0000", "dateModified": "2024-01-01T00:00:00.000+0000",
			"version": newID(), "acg": 255, "owner": map[string]any{"id": "54F3D26011D2896560009A8E67019608", "name": "Administrator"},
		})
		return nil
	case strconv.Itoa(objectTypeCube):
		s.mu.Lock()
		d, ok := s.datasets[id]
		var name, folder string
		if ok {
			name, folder = d.Name, d.FolderID
		}
		s.mu.Unlock()
		if !ok {
			return notFound("object %q of type 3 not found", id)
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "name": name, "type": objectTypeCube, "subtype": 776, "ancestors": []map[string]any{{"id": folder}}})
		return nil
	case "":
		return missingField("missing query parameter type (32 for a project, 3 for a dataset)")
	}
	return notFound("object %q of type %s not found (the emulator serves projects, type 32, and datasets, type 3)", id, typ)
}
