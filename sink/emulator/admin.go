package emulator

import (
	"cmp"
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
func (s *Server) serveEmulator(w http.ResponseWriter, r *http.Request, path string) {
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
