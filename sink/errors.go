package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Error is a failed Push Data API call as the server reported it: the HTTP status and, when
// the body was a MicroStrategy error document, its code, message, ticket id and iServerCode.
// Its Error method reads as one line a user can act on:
//
//	upload table "orders" chunk 7: 400 ERR006 invalid JSON (ticket 3F2A…)
type Error struct {
	Op          string // what was being done: `upload table "orders" chunk 7`
	Status      int    // HTTP status code
	Code        string // MicroStrategy error code such as "ERR006"; empty for a non-JSON body
	Message     string // the server's message, or the HTTP status text for a non-JSON body
	TicketID    string // the server's ticket id, for the MicroStrategy administrator
	IServerCode int64  // the Intelligence Server's own code; 0 when absent
	Attempts    int    // how many times the call was sent; more than 1 when it was retried
	Hint        string // what to do next, when the client knows

	login bool // the failed call was the login itself
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if msg != "" {
		b.WriteString(" ")
		b.WriteString(msg)
	}
	var extra []string
	if e.TicketID != "" {
		extra = append(extra, "ticket "+e.TicketID)
	}
	if e.IServerCode != 0 {
		extra = append(extra, "iServerCode "+strconv.FormatInt(e.IServerCode, 10))
	}
	if e.Attempts > 1 {
		extra = append(extra, strconv.Itoa(e.Attempts)+" attempts")
	}
	if len(extra) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(extra, ", "))
		b.WriteString(")")
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// iServerRequestTimeout is the iServerCode of an Intelligence Server request timeout: a 500
// that is worth retrying like any other.
const iServerRequestTimeout = -2147206497

// temporary reports whether repeating the same call later may succeed.
func (e *Error) temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
}

// sessionExpired reports whether the call failed because the login session timed out.
func (e *Error) sessionExpired() bool {
	return e.Status == http.StatusUnauthorized && e.codeIs(9)
}

// codeIs reports whether the error's MicroStrategy code is ERR<n>, however the server pads
// the number: servers spell the same code ERR017, ERR0017 or err17.
func (e *Error) codeIs(n int) bool {
	num, ok := strings.CutPrefix(strings.ToUpper(strings.TrimSpace(e.Code)), "ERR")
	if !ok || num == "" {
		return false
	}
	got, err := strconv.Atoi(num)
	return err == nil && got == n
}

// IsLoginRefused reports whether err is the server refusing the credentials (401 ERR003,
// or any 401 answer to the login call itself). Repeating the login will not help and
// risks locking the account.
func IsLoginRefused(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.login && e.Status == http.StatusUnauthorized || e.codeIs(3)
}

// IsNotFound reports whether err is the server answering 404: the dataset or upload
// session asked for does not exist (any more).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsSessionExpired reports whether err is a 401 ERR009: the login session is gone. The
// client logs in again by itself once per call, so a caller sees this only when that did not help.
func IsSessionExpired(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.sessionExpired()
}

// IsTooLarge reports whether the server refused a request body as too large (413).
func IsTooLarge(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusRequestEntityTooLarge
}

// Temporary reports whether err may go away by itself: a 5xx, 408 or 429 from the server, a
// timeout or a dropped connection. The client already retried such calls; a whole-run retry
// may still help.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.temporary()
	}
	return transient(err)
}

// Permanent reports whether err is an input error that repeating the run will not fix: any
// 4xx other than 401, 408 and 429, a dataset that no longer matches the job, or an invalid
// configuration. A runner skips whole-run retries for it.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var m *MismatchError
	if errors.As(err, &m) {
		return true
	}
	var c *ConfigError
	if errors.As(err, &c) {
		return true
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
			return false
		}
		return e.Status >= 400 && e.Status < 500
	}
	return false
}

// ConfigError is a Config that NewClient refused.
type ConfigError struct {
	Field string // the Config field, such as "BaseURL"
	Msg   string // what is wrong with it, without any secret
}

func (e *ConfigError) Error() string { return "push api config: " + e.Field + ": " + e.Msg }

// transient reports whether a transport error (no HTTP response) is worth retrying:
// timeouts, resets, refused or dropped connections. Certificate and URL errors are not.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // the per-call RequestTimeout; the caller checks its own context first
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// errorBody is a MicroStrategy error document.
type errorBody struct {
	Code        string          `json:"code"`
	Message     string          `json:"message"`
	TicketID    string          `json:"ticketId"`
	IServerCode json.RawMessage `json:"iServerCode"`
	Errors      []errorBody     `json:"errors"`
}

// parseError builds an Error from a failed response's status and body. A body that is not
// a MicroStrategy error document (a proxy's HTML page) falls back to the status line.
func parseError(op string, status int, body []byte) *Error {
	e := &Error{Op: op, Status: status}
	var doc errorBody
	if json.Unmarshal(bytes.TrimSpace(body), &doc) == nil {
		if doc.Code == "" && doc.Message == "" && len(doc.Errors) > 0 {
			doc = doc.Errors[0]
		}
		e.Code = doc.Code
		e.Message = oneLine(doc.Message)
		e.TicketID = doc.TicketID
		e.IServerCode = parseInt(doc.IServerCode)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// parseInt reads a JSON number or numeric string; anything else is 0.
func parseInt(raw json.RawMessage) int64 {
	s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// oneLine collapses runs of white space, newlines included, so an error stays one line.
func oneLine(s string) string {
	const maxLen = 500
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
