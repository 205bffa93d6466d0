package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ErrNotFound is returned by Table for a dataset or table the emulator does not hold.
var ErrNotFound = errors.New("not found")

// apiError is a failure answered with a MicroStrategy-style error body.
type apiError struct {
	status      int
	code        string
	message     string
	iServerCode int64
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.code, e.message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// badInput is a 400 ERR006, the server's "invalid input".
func badInput(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ERR006", format, args...)
}

// missingField is a 400 ERR007.
func missingField(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ERR007", format, args...)
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, "ERR004", format, args...)
}

func sessionInvalid() *apiError {
	return &apiError{
		status:      http.StatusUnauthorized,
		code:        "ERR009",
		message:     "the user session is invalid or has timed out: log in again",
		iServerCode: -2147072488,
	}
}

// errorForStatus makes the error body a real server would send with status, for faults
// injected without a body.
func errorForStatus(status int) *apiError {
	code, msg := "ERR001", http.StatusText(status)
	switch {
	case status == http.StatusUnauthorized:
		return sessionInvalid()
	case status == http.StatusForbidden:
		code = "ERR014"
	case status == http.StatusNotFound:
		code = "ERR004"
	case status == http.StatusRequestEntityTooLarge:
		code = "ERR006"
		msg = "request body too large"
	case status >= 400 && status < 500:
		code = "ERR006"
	case status == http.StatusInternalServerError:
		code = "ERR002"
		msg = "I-Server request timed out (injected fault)"
		return &apiError{status: status, code: code, message: msg, iServerCode: -2147206497}
	}
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d", status)
	}
	return &apiError{status: status, code: code, message: msg + " (injected fault)"}
}

type errorBody struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	TicketID    string `json:"ticketId"`
	IServerCode int64  `json:"iServerCode,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	code := e.code
	if rec, ok := w.(*statusRecorder); ok {
		code = spellCode(code, rec.codeDigits)
	}
	writeJSON(w, e.status, errorBody{Code: code, Message: e.message, TicketID: newID(), IServerCode: e.iServerCode})
}

// spellCode writes an error code such as ERR009 with digits digits (ERR0009 for 4), as
// servers differ in how they pad it.
func spellCode(code string, digits int) string {
	num, ok := strings.CutPrefix(code, "ERR")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || digits <= 0 {
		return code
	}
	return fmt.Sprintf("ERR%0*d", digits, n)
}

// writeRaw answers with a body given by a test, as JSON when it looks like JSON.
func writeRaw(w http.ResponseWriter, status int, body string) {
	ct := "text/plain; charset=utf-8"
	if t := strings.TrimSpace(body); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newID returns a MicroStrategy-style object id: 32 upper-case hex digits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
