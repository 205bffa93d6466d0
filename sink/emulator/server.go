package emulator

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. The zero value serves an in-memory emulator that accepts
// any credentials.
type Options struct {
	DataDir      string            // "" = in memory; else datasets persisted here (atomic writes) and reloaded by New
	Discard      bool              // validate every chunk fully but keep no rows (for benchmarks): memory stays bounded by one request
	Users        map[string]string // username -> password; nil = any username/password accepted
	APITokens    []string          // accepted for loginMode 4096; nil = any non-empty token accepted
	MaxBodyBytes int64             // 0 = 1 GiB
	PublishDelay time.Duration     // how long a publish stays at status 6
	SessionIdle  time.Duration     // idle session timeout; 0 = 30m
	Logger       *slog.Logger      // nil = discard

	// Dialects: how other servers answer where the Push Data API is undocumented or
	// loosely documented, so clients can be tested against each (push-api.md).

	// BigIntegerAsInteger makes the definition GET code BIGINTEGER columns as integer
	// (dataType 1) with precision 8, rather than as 35.
	BigIntegerAsInteger bool
	// PublishStatuses are in-progress statuses publishStatus reports, one per poll, before
	// the publish completes (e.g. 4, 8, 9, 10); the publish is applied only once all were
	// reported. Empty: status 6 until the publish completes. 1 and 3 are refused.
	PublishStatuses []int
	// StatusAsString makes publishStatus send status as a string ("1") rather than a number.
	StatusAsString bool
	// ErrorCodeDigits is how many digits error codes are spelled with: 3 (default) gives
	// ERR009 and ERR017, 4 gives ERR0009 and ERR0017.
	ErrorCodeDigits int
}

// Server is the emulated MicroStrategy Library server. It is an http.Handler serving the
// Push Data API under /api/ and /MicroStrategyLibrary/api/, and the emulator's own read-back
// and fault endpoints under /emulator/. It is safe for concurrent use.
type Server struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time // the clock of session idle timeouts; read and replaced under mu
	store *store           // nil in memory

	mu           sync.Mutex
	logins       map[string]*login   // by token
	datasets     map[string]*dataset // by id
	uploads      map[string]*upload  // by upload session id, open and ended
	openUpload   map[string]string   // dataset id -> id of its open upload session
	faults       map[Call][]*fault   // pending FailNth faults
	failPublish  *publishFailure     // set by FailPublish for the next publish
	publishDelay time.Duration
	stats        Stats
	closed       bool

	persistMu sync.Mutex     // orders dataset file writes
	publishes sync.WaitGroup // running publish goroutines
	done      chan struct{}  // closed by Close: pending publishes stop waiting
	routes    []route
}

// New makes a Server. With opts.DataDir it loads the datasets persisted there.
func New(opts Options) (*Server, error) {
	opts.MaxBodyBytes = cmp.Or(opts.MaxBodyBytes, 1<<30)
	opts.SessionIdle = cmp.Or(opts.SessionIdle, 30*time.Minute)
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("emulator: MaxBodyBytes must be positive (got %d)", opts.MaxBodyBytes)
	}
	if opts.PublishDelay < 0 {
		return nil, fmt.Errorf("emulator: PublishDelay must not be negative (got %v)", opts.PublishDelay)
	}
	for _, st := range opts.PublishStatuses {
		if st == statusReady || st == statusError {
			return nil, fmt.Errorf("emulator: PublishStatuses are in-progress statuses: %d ends a publish (got %v)", st, opts.PublishStatuses)
		}
	}
	opts.ErrorCodeDigits = cmp.Or(opts.ErrorCodeDigits, 3)
	if opts.ErrorCodeDigits < 1 || opts.ErrorCodeDigits > 6 {
		return nil, fmt.Errorf("emulator: ErrorCodeDigits must be between 1 and 6 (got %d)", opts.ErrorCodeDigits)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:         opts,
		log:          logger,
		now:          time.Now,
		logins:       map[string]*login{},
		datasets:     map[string]*dataset{},
		uploads:      map[string]*upload{},
		openUpload:   map[string]string{},
		faults:       map[Call][]*fault{},
		publishDelay: opts.PublishDelay,
		stats:        Stats{Calls: map[Call]int64{}},
		done:         make(chan struct{}),
	}
	if opts.DataDir != "" {
		st, err := openStore(opts.DataDir, logger)
		if err != nil {
			return nil, err
		}
		st.seen = st.stamps() // before reading: a file replaced meanwhile is read again
		loaded, err := st.load()
		if err != nil {
			return nil, err
		}
		for _, d := range loaded {
			s.datasets[d.ID] = d
		}
		s.store = st
		logger.Info("datasets loaded", "data_dir", opts.DataDir, "datasets", len(loaded))
	}
	s.routes = s.apiRoutes()
	return s, nil
}

// Close stops pending publishes (they end without applying anything) and waits for running
// ones to finish writing. Requests served after Close fail with 503.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.publishes.Wait()
	return nil
}

// ServeHTTP answers one request. Requests are logged at debug level, so that an emulator
// embedded in a job run stays quiet; changes (dataset created, published) at info.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, codeDigits: s.opts.ErrorCodeDigits}
	s.serve(rec, r)
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start).Round(time.Microsecond))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		writeError(w, errorf(http.StatusServiceUnavailable, "ERR001", "the emulator is shutting down"))
		return
	}
	s.reload()
	path := r.URL.Path
	switch {
	case path == "/emulator" || strings.HasPrefix(path, "/emulator/"):
		s.serveEmulator(w, r, strings.Trim(strings.TrimPrefix(path, "/emulator"), "/"))
		return
	case strings.HasPrefix(path, "/MicroStrategyLibrary/api/"):
		path = strings.TrimPrefix(path, "/MicroStrategyLibrary/api/")
	case strings.HasPrefix(path, "/api/"):
		path = strings.TrimPrefix(path, "/api/")
	default:
		writeError(w, notFound("HTTP 404 Not Found: %s (the API is served under /MicroStrategyLibrary/api/ and /api/)", r.URL.Path))
		return
	}
	rt, params, allowed, apiErr := match(s.routes, r.Method, strings.Trim(path, "/"))
	if apiErr != nil {
		drain(r)
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
		}
		writeError(w, apiErr)
		return
	}
	// A call anyone may make (login) reads at most a small body: credentials are short, and
	// a stranger must not make the emulator hold a gigabyte.
	limit := s.opts.MaxBodyBytes
	if !rt.auth {
		limit = min(limit, maxUnauthenticatedBody)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	s.mu.Lock()
	s.stats.Calls[rt.call]++
	f := s.takeFault(rt.call)
	s.mu.Unlock()
	if r.ContentLength > limit {
		writeError(w, tooLarge(limit))
		return
	}
	if f != nil {
		_, _ = io.Copy(io.Discard, r.Body) // a retried chunk must not meet a reset connection
		s.log.Info("fault injected", "call", string(rt.call), "status", f.status)
		if f.body == "" {
			writeError(w, errorForStatus(f.status))
		} else {
			writeRaw(w, f.status, f.body)
		}
		return
	}
	req := &request{r: r, params: params}
	if rt.auth {
		l, err := s.authenticate(r)
		if err != nil {
			drain(r)
			writeError(w, err)
			return
		}
		req.login = l
	}
	if rt.project && r.Header.Get("X-MSTR-ProjectID") == "" {
		drain(r)
		writeError(w, errorf(http.StatusBadRequest, "ERR005", "missing X-MSTR-ProjectID header: send the project id with every dataset call"))
		return
	}
	if err := rt.handle(w, req); err != nil {
		// Read the rest of a refused body (up to the limit) so that a client still writing a
		// large chunk gets the error answer rather than a reset connection.
		_, _ = io.Copy(io.Discard, r.Body)
		var ae *apiError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			ae = tooLarge(limit)
		case errors.As(err, &ae):
		default:
			ae = errorf(http.StatusInternalServerError, "ERR001", "%v", err)
		}
		if ae.status >= 500 {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", ae.message)
		}
		writeError(w, ae)
	}
}

// maxUnauthenticatedBody is the body limit of the calls made before logging in.
const maxUnauthenticatedBody = 64 << 10

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, "ERR006", "request body exceeds the server's limit of %d bytes: send smaller chunks", limit)
}

// drain reads what is left of a refused request's body (up to a bound) so that the client's
// connection can be reused.
func drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
}

// request is what a handler sees of one API call.
type request struct {
	r      *http.Request
	params map[string]string
	login  *login
}

// route is one API endpoint: a path pattern of literal segments and {params}.
type route struct {
	method  string
	pattern []string
	call    Call
	auth    bool // needs a valid login (token and JSESSIONID cookie)
	project bool // needs X-MSTR-ProjectID
	handle  func(http.ResponseWriter, *request) error
}

func (s *Server) apiRoutes() []route {
	r := func(method, pattern string, call Call, auth, project bool, h func(http.ResponseWriter, *request) error) route {
		return route{method: method, pattern: strings.Split(pattern, "/"), call: call, auth: auth, project: project, handle: h}
	}
	return []route{
		r(http.MethodPost, "auth/login", CallLogin, false, false, s.handleLogin),
		r(http.MethodPost, "auth/logout", CallLogout, false, false, s.handleLogout),
		r(http.MethodGet, "status", CallStatus, false, false, s.handleStatus),
		r(http.MethodGet, "sessions", CallSessions, true, false, s.handleSessions),
		r(http.MethodPut, "sessions", CallSessions, true, false, s.handleExtendSession),
		r(http.MethodGet, "projects", CallProjects, true, false, s.handleProjects),
		r(http.MethodGet, "objects/{id}", CallObject, true, true, s.handleObject),
		r(http.MethodGet, "v2/cubes/{id}", CallCube, true, true, s.handleCube),
		r(http.MethodPost, "datasets/models", CallModel, true, true, s.handleModel),
		r(http.MethodGet, "datasets/{id}", CallDefinition, true, true, s.handleDefinition),
		r(http.MethodPost, "datasets/{id}/uploadSessions", CallOpenSession, true, true, s.handleOpenSession),
		r(http.MethodPut, "datasets/{id}/uploadSessions/{sid}", CallPut, true, true, s.handlePut),
		r(http.MethodDelete, "datasets/{id}/uploadSessions/{sid}", CallDelete, true, true, s.handleDelete),
		r(http.MethodPost, "datasets/{id}/uploadSessions/{sid}/publish", CallPublish, true, true, s.handlePublish),
		r(http.MethodGet, "datasets/{id}/uploadSessions/{sid}/publishStatus", CallPublishStatus, true, true, s.handlePublishStatus),
	}
}

// match finds the route for method and path (without the /api/ prefix). Among routes
// matching the path, those with the most literal segments win, so "datasets/models" is not
// taken for the dataset "models". A path that matches with another method is a 405.
func match(routes []route, method, path string) (*route, map[string]string, []string, *apiError) {
	segs := strings.Split(path, "/")
	best := -1
	var candidates []*route
	for i := range routes {
		rt := &routes[i]
		lit, ok := matchPattern(rt.pattern, segs, nil)
		if !ok {
			continue
		}
		if lit > best {
			best, candidates = lit, candidates[:0]
		}
		if lit == best {
			candidates = append(candidates, rt)
		}
	}
	if len(candidates) == 0 {
		return nil, nil, nil, notFound("HTTP 404 Not Found: no endpoint /api/%s", path)
	}
	var allowed []string
	for _, rt := range candidates {
		if rt.method == method {
			params := map[string]string{}
			matchPattern(rt.pattern, segs, params)
			return rt, params, nil, nil
		}
		allowed = append(allowed, rt.method)
	}
	return nil, nil, allowed, errorf(http.StatusMethodNotAllowed, "ERR001", "HTTP 405 Method Not Allowed: %s /api/%s (allowed: %s)", method, path, strings.Join(allowed, ", "))
}

func matchPattern(pattern, segs []string, params map[string]string) (literals int, ok bool) {
	if len(pattern) != len(segs) {
		return 0, false
	}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			if segs[i] == "" {
				return 0, false
			}
			if params != nil {
				params[strings.Trim(p, "{}")] = segs[i]
			}
			continue
		}
		if p != segs[i] {
			return 0, false
		}
		literals++
	}
	return literals, true
}

type statusRecorder struct {
	http.ResponseWriter
	status     int
	codeDigits int // how error codes are spelled: Options.ErrorCodeDigits
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
