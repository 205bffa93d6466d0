package emulator

import (
	"cmp"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"
)

// serveEmulator answers the emulator's own endpoints (path without the /emulator/ prefix):
//
//	GET    datasets                      the datasets held
//	GET    datasets/{id}/tables/{name}   a table's columns and rows ({id} may be a name)
//	GET    sessions                      open upload sessions
//	GET    stats                         counters
//	POST   faults/fail                   {"call":"put","n":1,"status":500,"body":""}
//	POST   faults/expire-sessions        every login session becomes invalid
//	POST   faults/publish-delay          {"delay":"2s"}
//	POST   faults/fail-publish           {"status":3,"message":"..."}
//	DELETE faults                        disarm every fault
//
// When Options.Users or Options.APITokens restrict logins, these endpoints need one too:
// HTTP basic authentication with a user's name and password, or the token and JSESSIONID
// cookie of a login.
func (s *Server) serveEmulator(w http.ResponseWriter, r *http.Request, path string) {
	if err := s.authorizeEmulator(r); err != nil {
		drain(r)
		w.Header().Set("WWW-Authenticate", `Basic realm="cubesync emulator"`)
		writeError(w, err)
		return
	}
	segs := strings.Split(path, "/")
	want := func(method string) bool {
		if r.Method == method {
			return true
		}
		w.Header().Set("Allow", method)
		writeError(w, errorf(http.StatusMethodNotAllowed, "ERR001", "HTTP 405 Method Not Allowed: %s /emulator/%s (allowed: %s)", r.Method, path, method))
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	switch {
	case path == "datasets":
		if want(http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"datasets": s.Datasets()})
		}
	case len(segs) == 4 && segs[0] == "datasets" && segs[2] == "tables":
		if !want(http.MethodGet) {
			return
		}
		t, err := s.Table(segs[1], segs[3])
		if err != nil {
			writeError(w, notFound("%v", err))
			return
		}
		cols := make([]map[string]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = map[string]string{"name": c.Name, "dataType": string(c.DataType)}
		}
		writeJSON(w, http.StatusOK, map[string]any{"columns": cols, "rows": t.Rows})
	case path == "sessions":
		if want(http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"sessions": s.OpenSessions()})
		}
	case path == "stats":
		if want(http.MethodGet) {
			writeJSON(w, http.StatusOK, s.Stats())
		}
	case path == "faults":
		if want(http.MethodDelete) {
			s.ClearFaults()
			w.WriteHeader(http.StatusNoContent)
		}
	case path == "faults/fail":
		if !want(http.MethodPost) {
			return
		}
		var b struct {
			Call   Call   `json:"call"`
			N      int    `json:"n"`
			Status int    `json:"status"`
			Body   string `json:"body"`
		}
		if err := decodeJSON(r.Body, &b, "fault"); err != nil {
			writeAdminError(w, err)
			return
		}
		if !validCall(b.Call) {
			writeError(w, badInput("unknown call %q (want login, logout, status, sessions, projects, object, cube, model, definition, open_session, put, publish, publish_status or delete)", b.Call))
			return
		}
		if b.Status < 100 || b.Status > 599 {
			writeError(w, badInput("status %d is not an HTTP status", b.Status))
			return
		}
		s.FailNth(b.Call, max(b.N, 1), b.Status, b.Body)
		w.WriteHeader(http.StatusNoContent)
	case path == "faults/expire-sessions":
		if want(http.MethodPost) {
			s.ExpireSessions()
			w.WriteHeader(http.StatusNoContent)
		}
	case path == "faults/publish-delay":
		if !want(http.MethodPost) {
			return
		}
		var b struct {
			Delay string `json:"delay"`
		}
		if err := decodeJSON(r.Body, &b, "publish delay"); err != nil {
			writeAdminError(w, err)
			return
		}
		d, err := time.ParseDuration(b.Delay)
		if err != nil || d < 0 {
			writeError(w, badInput("delay %q is not a non-negative Go duration such as 2s", b.Delay))
			return
		}
		s.SetPublishDelay(d)
		w.WriteHeader(http.StatusNoContent)
	case path == "faults/fail-publish":
		if !want(http.MethodPost) {
			return
		}
		var b struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		}
		if err := decodeJSON(r.Body, &b, "publish failure"); err != nil {
			writeAdminError(w, err)
			return
		}
		s.FailPublish(cmp.Or(b.Status, statusError), cmp.Or(b.Message, "publish failed (injected)"))
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, notFound("HTTP 404 Not Found: no emulator endpoint /emulator/%s", path))
	}
}

func writeAdminError(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae)
		return
	}
	writeError(w, badInput("%v", err))
}

// authorizeEmulator checks the credentials of a request to an /emulator/ endpoint: none are
// needed unless logins are restricted, else a user's basic authentication or a valid login.
func (s *Server) authorizeEmulator(r *http.Request) *apiError {
	if s.opts.Users == nil && s.opts.APITokens == nil {
		return nil
	}
	if name, password, ok := r.BasicAuth(); ok {
		want, known := s.opts.Users[name]
		if known && subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1 {
			return nil
		}
		return errorf(http.StatusUnauthorized, "ERR003", "login failed: wrong username or password")
	}
	if r.Header.Get("X-MSTR-AuthToken") == "" {
		return errorf(http.StatusUnauthorized, "ERR009", "the emulator's endpoints need a login when it restricts users: send a --user name and password with HTTP basic authentication (curl -u NAME:PASSWORD), or the token and cookie of a login")
	}
	_, err := s.authenticate(r)
	return err
}
