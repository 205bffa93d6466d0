package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/cubesync/cubesync/jobs"
)

// withAdminAPI adds POST /api/jobs/{name}/run|pause|resume in front of next when token is
// set; without a token the endpoints do not exist (404). Requests must bear the token
// ("Authorization: Bearer TOKEN"), compared in constant time; the token is never logged.
func withAdminAPI(next http.Handler, token string, store jobs.Store, scheduled []*jobs.Job, log *slog.Logger) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	known := map[string]bool{}
	for _, j := range scheduled {
		known[j.Name] = true
	}
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("POST /api/jobs/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		name, action := r.PathValue("name"), r.PathValue("action")
		log := log.With("job", name, "action", action, "remote", r.RemoteAddr)
		// Hashing both sides first makes the comparison's time independent of the length.
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(bearer))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			log.Warn("admin request refused: missing or wrong bearer token")
			w.Header().Set("WWW-Authenticate", `Bearer realm="cubesync"`)
			writeAPIJSON(w, http.StatusUnauthorized, map[string]any{"error": "missing or wrong bearer token ([serve] admin_token)"})
			return
		}
		if !known[name] {
			writeAPIJSON(w, http.StatusNotFound, map[string]any{"error": "no scheduled job " + strconv.Quote(name)})
			return
		}
		by := "http " + r.RemoteAddr
		switch action {
		case "run":
			req, err := store.RequestRun(r.Context(), name, by)
			if err != nil {
				log.Error("admin request: request a run", "err", err)
				writeAPIJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "state store: " + err.Error()})
				return
			}
			log.Info("admin request: run requested", "request", req.ID)
			writeAPIJSON(w, http.StatusAccepted, map[string]any{"job": name, "request": req.ID, "status": "requested"})
		case "pause", "resume":
			if err := store.SetPaused(r.Context(), name, action == "pause", by); err != nil {
				log.Error("admin request: "+action, "err", err)
				writeAPIJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "state store: " + err.Error()})
				return
			}
			log.Info("admin request: job " + action + "d")
			writeAPIJSON(w, http.StatusOK, map[string]any{"job": name, "paused": action == "pause"})
		default:
			writeAPIJSON(w, http.StatusNotFound, map[string]any{"error": "unknown action " + strconv.Quote(action) + " (want run, pause or resume)"})
		}
	})
	return mux
}

func writeAPIJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
