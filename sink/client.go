package sink

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cubesync/cubesync/clock"
)

// Config says which MicroStrategy Library server to push to, as whom, and how patiently.
// Zero values take the defaults documented on each field, except CallRetries, whose zero
// is a setting of its own (no retry).
type Config struct {
	// BaseURL is the Library web application, https://host/MicroStrategyLibrary. A trailing
	// "/" or "/api" is accepted and removed. It must not carry credentials.
	BaseURL   string
	ProjectID string
	// Username and Password are the credentials. With LoginMode "api_token" the token goes
	// in Username, or in Password when Username is empty (so it can come from the same
	// secret store as a password); the server receives it as the username either way.
	Username string
	Password string
	// LoginMode is "standard" (default), "ldap" or "api_token".
	LoginMode string

	// HTTPClient sends the requests; nil means a new client. The client always gets a cookie
	// jar (a copy of HTTPClient is made when it has none), because the server needs every
	// cookie set at login back with the token.
	HTTPClient *http.Client
	// RequestTimeout bounds each HTTP call, a whole chunk upload included; default 5m.
	RequestTimeout time.Duration
	// CallRetries is how many times a failed call is repeated on a transient failure: 0
	// sends each call once. DefaultCallRetries is what a configuration without the
	// setting should ask for.
	CallRetries int
	// CallBackoff is the delay before the first repeat, doubled for each further one with
	// jitter and capped at 30s; default 1s.
	CallBackoff time.Duration
	// PublishTimeout bounds the wait for a publish to finish; default 30m.
	PublishTimeout time.Duration
	// CancelTimeout bounds the DELETE that cancels a session; default 30s. It is counted
	// from the moment Cancel is called, not from the run's context, which may be over.
	CancelTimeout time.Duration

	Logger *slog.Logger // nil discards
	// Names are how messages name the Config fields, for a caller whose users set them
	// under other names (jobs passes the jobs.toml keys, "BaseURL": "base_url"). A field
	// not in it is named as in Config.
	Names map[string]string
	Clock clock.Clock // nil is the wall clock; tests pass a fake one
}

// Defaults applied by NewClient.
const (
	DefaultRequestTimeout = 5 * time.Minute
	DefaultCallRetries    = 5
	DefaultCallBackoff    = time.Second
	DefaultPublishTimeout = 30 * time.Minute
	DefaultCancelTimeout  = 30 * time.Second
)

// loginModes maps LoginMode to the server's numeric loginMode.
var loginModes = map[string]int{"standard": 1, "ldap": 16, "api_token": 4096}

// maxResponse bounds how much of a response body is read; answers of this API are small
// JSON documents, a definition with thousands of columns included.
const maxResponse = 32 << 20

// Client talks to one MicroStrategy Library server's Push Data API on behalf of one user
// and project. It is safe for concurrent use; a login that expires is renewed once, by
// whichever call notices first.
type Client struct {
	cfg     Config
	api     string // BaseURL + "/api"
	hc      *http.Client
	log     *slog.Logger
	clock   clock.Clock
	retries int

	loginMu sync.Mutex // serialises logins, so concurrent calls renew an expired login once

	mu    sync.Mutex // guards token and gen
	token string
	gen   uint64 // bumped at every login, so a call can tell whether its token was renewed
}

// NewClient checks cfg, fills in its defaults and returns a client that is not logged in yet.
func NewClient(cfg Config) (*Client, error) {
	cfg.LoginMode = cmp.Or(strings.ToLower(strings.TrimSpace(cfg.LoginMode)), "standard")
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.CallBackoff = cmp.Or(cfg.CallBackoff, DefaultCallBackoff)
	cfg.PublishTimeout = cmp.Or(cfg.PublishTimeout, DefaultPublishTimeout)
	cfg.CancelTimeout = cmp.Or(cfg.CancelTimeout, DefaultCancelTimeout)
	if cfg.CallRetries < 0 {
		return nil, &ConfigError{"CallRetries", fmt.Sprintf("must not be negative (got %d; 0 sends each call once)", cfg.CallRetries)}
	}
	if cfg.LoginMode == "api_token" && cfg.Username == "" {
		cfg.Username, cfg.Password = cfg.Password, ""
	}

	api, err := apiURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	cfg.BaseURL = strings.TrimSuffix(api, "/api")
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	// The client is a copy: it gets a cookie jar if it has none and a redirect policy that
	// keeps the password and the token on base_url's server, and the caller's stays as it was.
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	if hc.Jar == nil {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, fmt.Errorf("push api client: cookie jar: %w", err)
		}
		hc.Jar = jar
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, &ConfigError{"BaseURL", "does not parse as a URL"}
	}
	hc.CheckRedirect = sameOrigin(base, cfg.name("BaseURL"), hc.CheckRedirect)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:     cfg,
		api:     api,
		hc:      hc,
		log:     log,
		clock:   clock.Or(cfg.Clock),
		retries: cfg.CallRetries,
	}, nil
}

// ErrRedirectRefused reports a redirect the client did not follow because it leads away
// from base_url's scheme, host and port.
var ErrRedirectRefused = errors.New("redirect refused")

// maxRedirects is how many redirects within base_url's server one call follows.
const maxRedirects = 10

// sameOrigin is the client's redirect policy: follow a redirect only to base's scheme, host
// and port. Go strips Authorization and Cookie on a redirect to another host, but not
// X-MSTR-AuthToken, and a 307 or 308 sends the login body (the password) again; a redirect
// from https to http would send both in clear text. next, the caller's own policy, is
// asked too when set.
func sameOrigin(base *url.URL, baseName string, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	origin := func(u *url.URL) string {
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
		}
		return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
	}
	want := origin(base)
	return func(req *http.Request, via []*http.Request) error {
		if origin(req.URL) != want {
			to := url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: req.URL.Path}
			return fmt.Errorf("%w: the server sent the call to %s, which is not %s://%s of %s; credentials and tokens go to %s's server only, so set %s to the server's real address",
				ErrRedirectRefused, to.String(), base.Scheme, base.Host, baseName, baseName, baseName)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: stopped after %d redirects", ErrRedirectRefused, maxRedirects)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// apiURL normalises a base URL to the URL of its /api root.
func apiURL(base string) (string, error) {
	base = strings.TrimSpace(base)
	if base == "" {
		return "", &ConfigError{"BaseURL", "missing (want https://HOST/MicroStrategyLibrary)"}
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		shown := base
		if u != nil {
			shown = u.Redacted()
		}
		if err != nil {
			shown = "(unparsable)"
		}
		return "", &ConfigError{"BaseURL", fmt.Sprintf("%s is not an http(s) URL (want https://HOST/MicroStrategyLibrary)", shown)}
	}
	if u.User != nil {
		return "", &ConfigError{"BaseURL", fmt.Sprintf("%s carries credentials: put them in the username and password settings instead", u.Redacted())}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", &ConfigError{"BaseURL", fmt.Sprintf("%s has a query or fragment (want https://HOST/MicroStrategyLibrary)", u.Redacted())}
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api")
	u.Path = strings.TrimRight(p, "/") + "/api"
	u.RawPath = ""
	return u.String(), nil
}

// name is how messages name the Config field f: see Names.
func (cfg *Config) name(f string) string {
	if n, ok := cfg.Names[f]; ok {
		return n
	}
	return f
}

func (cfg *Config) validate() error {
	if _, ok := loginModes[cfg.LoginMode]; !ok {
		return &ConfigError{"LoginMode", fmt.Sprintf("unknown login mode %q (want standard, ldap or api_token)", cfg.LoginMode)}
	}
	if strings.TrimSpace(cfg.ProjectID) == "" {
		return &ConfigError{"ProjectID", "missing (the 32-hex id of the MicroStrategy project)"}
	}
	if cfg.Username == "" {
		if cfg.LoginMode == "api_token" {
			return &ConfigError{"Username", "missing API token (give it as the username or the password)"}
		}
		return &ConfigError{"Username", "missing"}
	}
	return nil
}

// call is one Push Data API request, described so it can be sent again.
type call struct {
	op     string // what is being done, for errors and logs
	method string
	path   string // below /api, already escaped
	query  url.Values
	// body opens a fresh copy of the request body; nil for none. length is its size in
	// bytes, or -1 when unknown.
	body   func() (io.ReadCloser, error)
	length int64
	// session says which session headers go with the call and whether an expired login
	// is renewed.
	session sessionMode
	// hint, when set, may add what to do next to the final error.
	hint func(*Error)
	// sent, when set, is kept at the number of times the call has been sent so far.
	sent *int
}

// sessionMode is how a call relates to the login session.
type sessionMode int

const (
	inSession  sessionMode = iota // token and project id; renew an expired login once
	loggingIn                     // neither token nor project id
	loggingOut                    // token only; never renew
)

// response is a successful answer: its status, headers and (small) body.
type response struct {
	status int
	header http.Header
	body   []byte
}

// jsonBody makes a call body from a value marshalled once.
func jsonBody(v any) (func() (io.ReadCloser, error), int64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, 0, err
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, int64(len(b)), nil
}

// do sends k until it succeeds, retrying transient failures with backoff and renewing an
// expired login once. The error is an *Error for an HTTP failure, or wraps the transport
// error or the context's error, always prefixed with k.op.
func (c *Client) do(ctx context.Context, k call) (*response, error) {
	renewed := false
	sent := 0
	for retry := 0; ; retry++ {
		gen, token := c.auth()
		sent++
		if k.sent != nil {
			*k.sent = sent
		}
		resp, err := c.send(ctx, k, token)
		if err == nil && resp.status >= 200 && resp.status < 300 {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", k.op, context.Cause(ctx))
		}

		var failure error
		delay := backoff(c.cfg.CallBackoff, retry+1)
		if err != nil {
			failure = err
			if !transient(err) || retry >= c.retries {
				return nil, fmt.Errorf("%s: %w%s", k.op, err, attempts(sent))
			}
		} else {
			e := parseError(k.op, resp.status, resp.body)
			e.Message = c.redact(e.Message)
			e.Attempts = sent
			e.login = k.session == loggingIn
			if e.sessionExpired() && k.session == inSession && !renewed {
				renewed = true
				retry-- // a renewal is not one of the call's retries
				if err := c.renew(ctx, gen); err != nil {
					return nil, fmt.Errorf("%s: login session expired: %w", k.op, err)
				}
				continue
			}
			if !e.temporary() || retry >= c.retries {
				if k.hint != nil {
					k.hint(e)
				}
				return nil, e
			}
			if d, ok := retryAfter(resp.header, c.clock.Now()); ok {
				delay = d
			}
			failure = e
		}
		c.log.Warn("push api call failed, retrying", "op", k.op, "attempt", sent, "delay", delay.Round(time.Millisecond), "err", failure)
		if err := c.clock.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%s: %w (while waiting to retry after: %v)", k.op, context.Cause(ctx), failure)
		}
	}
}

func attempts(n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" (%d attempts)", n)
}

// send makes one HTTP request of k with its own RequestTimeout and reads the answer.
func (c *Client) send(ctx context.Context, k call, token string) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	u := c.api + k.path
	if len(k.query) > 0 {
		u += "?" + k.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if k.body != nil {
		body, err := k.body()
		if err != nil {
			return nil, err
		}
		req.Body = body
		req.GetBody = k.body
		req.ContentLength = k.length
		req.Header.Set("Content-Type", "application/json")
	}
	if k.session == inSession {
		req.Header.Set("X-MSTR-ProjectID", c.cfg.ProjectID)
	}
	if token != "" && k.session != loggingIn {
		req.Header.Set("X-MSTR-AuthToken", token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read %d response: %w", resp.StatusCode, err)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("%d response larger than %d bytes", resp.StatusCode, maxResponse)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// auth returns the current login's generation and token.
func (c *Client) auth() (uint64, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.token
}

// redact removes the credentials and the session token from a server message, in case a
// server echoes them. Secrets shorter than 3 bytes are left alone: replacing them would
// mangle every message and protect nothing.
func (c *Client) redact(s string) string {
	_, token := c.auth()
	secrets := []string{c.cfg.Password, token}
	if c.cfg.LoginMode == "api_token" {
		secrets = append(secrets, c.cfg.Username)
	}
	for _, secret := range secrets {
		if len(secret) >= 3 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// Login logs in and keeps the session token and cookies for every later call.
func (c *Client) Login(ctx context.Context) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	return c.login(ctx)
}

// renew logs in again after a call with login generation gen found the session expired,
// unless another call has done so in the meantime.
func (c *Client) renew(ctx context.Context, gen uint64) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if current, _ := c.auth(); current != gen {
		return nil
	}
	c.log.Info("login session expired, logging in again")
	return c.login(ctx)
}

// login sends the login call; the caller holds loginMu.
func (c *Client) login(ctx context.Context) error {
	body, n, err := jsonBody(map[string]any{
		"username":  c.cfg.Username,
		"password":  c.cfg.Password,
		"loginMode": loginModes[c.cfg.LoginMode],
	})
	if err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	resp, err := c.do(ctx, call{
		op: "log in", method: http.MethodPost, path: "/auth/login", body: body, length: n, session: loggingIn,
		hint: func(e *Error) {
			switch e.Status {
			case http.StatusUnauthorized:
				e.Hint = fmt.Sprintf("check the %s, %s and %s", c.cfg.name("Username"), c.cfg.name("Password"), c.cfg.name("LoginMode"))
			case http.StatusNotFound:
				e.Hint = "check that " + c.cfg.name("BaseURL") + " points at MicroStrategy Library (https://HOST/MicroStrategyLibrary)"
			}
		},
	})
	if err != nil {
		return err
	}
	token := resp.header.Get("X-MSTR-AuthToken")
	if token == "" {
		return errors.New("log in: the server sent no X-MSTR-AuthToken header; check that " + c.cfg.name("BaseURL") + " points at MicroStrategy Library (https://HOST/MicroStrategyLibrary)")
	}
	c.mu.Lock()
	c.token = token
	c.gen++
	c.mu.Unlock()
	c.log.Info("logged in", "base_url", c.cfg.BaseURL, "login_mode", c.cfg.LoginMode)
	return nil
}

// Logout ends the login session. It is always safe: without a login it does nothing, and a
// session the server already ended (401 ERR009) counts as logged out.
func (c *Client) Logout(ctx context.Context) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if _, token := c.auth(); token == "" {
		return nil
	}
	_, err := c.do(ctx, call{op: "log out", method: http.MethodPost, path: "/auth/logout", session: loggingOut})
	if err != nil && !IsSessionExpired(err) {
		return err
	}
	c.mu.Lock()
	c.token = ""
	c.gen++
	c.mu.Unlock()
	c.log.Debug("logged out")
	return nil
}

// CreateDataset creates a dataset from m and returns its id. A dataset of the same name in
// the same folder is overwritten by the server, dashboards and all: callers create a dataset
// only when they have no id for it yet.
func (c *Client) CreateDataset(ctx context.Context, m Model) (string, error) {
	op := fmt.Sprintf("create dataset %q", m.Name)
	if len(m.Tables) == 0 {
		return "", fmt.Errorf("%s: the model has no tables", op)
	}
	body, n, err := jsonBody(m)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	resp, err := c.do(ctx, call{
		op: op, method: http.MethodPost, path: "/datasets/models", body: body, length: n,
		hint: func(e *Error) {
			switch e.Status {
			case http.StatusBadRequest:
				e.Hint = `check the table and column names (at most 250 characters, none of \ " [ ]) and types`
			case http.StatusForbidden:
				e.Hint = "the user may not create datasets in this project or folder: ask the MicroStrategy administrator"
			}
		},
	})
	if err != nil {
		return "", err
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &created); err != nil || created.ID == "" {
		return "", fmt.Errorf("%s: the server's answer has no dataset id: %s", op, oneLine(string(resp.body)))
	}
	c.log.Info("dataset created", "dataset", m.Name, "dataset_id", created.ID)
	return created.ID, nil
}

// CancelSession cancels an upload session, for instance one a run that died left open (the
// server refuses a new session on the dataset until then). A session that is already gone
// (404) counts as cancelled.
func (c *Client) CancelSession(ctx context.Context, datasetID, sessionID string) error {
	op := fmt.Sprintf("cancel upload session %s of dataset %s", sessionID, datasetID)
	_, err := c.do(ctx, call{op: op, method: http.MethodDelete, path: sessionPath(datasetID, sessionID)})
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		c.log.Debug("upload session already gone", "dataset_id", datasetID, "session_id", sessionID)
		return nil
	}
	if err != nil {
		return err
	}
	c.log.Info("upload session cancelled", "dataset_id", datasetID, "session_id", sessionID)
	return nil
}

func datasetPath(datasetID string) string {
	return "/datasets/" + url.PathEscape(datasetID)
}

func sessionPath(datasetID, sessionID string) string {
	return datasetPath(datasetID) + "/uploadSessions/" + url.PathEscape(sessionID)
}
