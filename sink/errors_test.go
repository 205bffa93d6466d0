package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
)

func TestErrorReadsAsOneLine(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"full", &Error{Op: `upload table "orders" chunk 7`, Status: 400, Code: "ERR006", Message: "invalid JSON", TicketID: "3F2A"},
			`upload table "orders" chunk 7: 400 ERR006 invalid JSON (ticket 3F2A)`},
		{"status line only", &Error{Op: "log in", Status: 502},
			"log in: 502 Bad Gateway"},
		{"retried with hint", &Error{Op: "publish", Status: 500, Code: "ERR002", Message: "timeout", IServerCode: -2147206497, Attempts: 6, Hint: "ask the administrator"},
			"publish: 500 ERR002 timeout (iServerCode -2147206497, 6 attempts); ask the administrator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
	}{
		{"plain", 400, `{"code":"ERR006","message":"Invalid JSON","ticketId":"T1","iServerCode":-2147072488}`,
			Error{Status: 400, Code: "ERR006", Message: "Invalid JSON", TicketID: "T1", IServerCode: -2147072488}},
		{"wrapped", 403, `{"errors":[{"code":"ERR014","message":"no\n  privilege","ticketId":"T2"}]}`,
			Error{Status: 403, Code: "ERR014", Message: "no privilege", TicketID: "T2"}},
		{"html from a proxy", 504, "<html><title>504 Gateway Time-out</title></html>",
			Error{Status: 504, Message: "Gateway Timeout"}},
		{"empty", 500, "", Error{Status: 500, Message: "Internal Server Error"}},
		{"json without a message", 503, `{"status":"down"}`, Error{Status: 503, Message: "Service Unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseError("", tt.status, []byte(tt.body)); *got != tt.want {
				t.Errorf("parseError(%d, %q) = %+v, want %+v", tt.status, tt.body, *got, tt.want)
			}
		})
	}
}

func TestErrorPredicates(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("run job sales: %w", err) }
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name                          string
		err                           error
		permanent, temporary, expired bool
		loginRefused                  bool
	}{
		{"400", wrap(&Error{Status: 400, Code: "ERR006"}), true, false, false, false},
		{"403", wrap(&Error{Status: 403}), true, false, false, false},
		{"404", wrap(&Error{Status: 404}), true, false, false, false},
		{"409 open session", wrap(&Error{Status: 409}), true, false, false, false},
		{"413 one row", wrap(&Error{Status: 413}), true, false, false, false},
		{"401 expired", wrap(&Error{Status: 401, Code: "ERR009"}), false, false, true, false},
		{"401 login failed", wrap(&Error{Status: 401, Code: "ERR003"}), false, false, false, true},
		{"401 login failed, four digits", wrap(&Error{Status: 401, Code: "ERR0003"}), false, false, false, true},
		{"401 to the login call, no code", wrap(&Error{Status: 401, login: true}), false, false, false, true},
		{"401 expired, four digits", wrap(&Error{Status: 401, Code: "ERR0009"}), false, false, true, false},
		{"401 expired, lower case and unpadded", wrap(&Error{Status: 401, Code: "err9"}), false, false, true, false},
		{"401 with another code", wrap(&Error{Status: 401, Code: "ERR0090"}), false, false, false, false},
		{"408", wrap(&Error{Status: 408}), false, true, false, false},
		{"429", wrap(&Error{Status: 429}), false, true, false, false},
		{"500", wrap(&Error{Status: 500}), false, true, false, false},
		{"503", wrap(&Error{Status: 503}), false, true, false, false},
		{"connection reset", wrap(reset), false, true, false, false},
		{"unexpected eof", wrap(io.ErrUnexpectedEOF), false, true, false, false},
		{"cancelled", wrap(context.Canceled), false, false, false, false},
		{"mismatch", wrap(&MismatchError{Problems: []string{"x"}}), true, false, false, false},
		{"config", &ConfigError{"BaseURL", "missing"}, true, false, false, false},
		{"publish failed", wrap(&PublishError{Status: 3}), false, false, false, false},
		{"other", errors.New("disk full"), false, false, false, false},
		{"nil", nil, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Permanent(tt.err); got != tt.permanent {
				t.Errorf("Permanent(%v) = %v, want %v", tt.err, got, tt.permanent)
			}
			if got := Temporary(tt.err); got != tt.temporary {
				t.Errorf("Temporary(%v) = %v, want %v", tt.err, got, tt.temporary)
			}
			if got := IsSessionExpired(tt.err); got != tt.expired {
				t.Errorf("IsSessionExpired(%v) = %v, want %v", tt.err, got, tt.expired)
			}
			if got := IsLoginRefused(tt.err); got != tt.loginRefused {
				t.Errorf("IsLoginRefused(%v) = %v, want %v", tt.err, got, tt.loginRefused)
			}
		})
	}
}

func TestOneLineCutsLongMessagesOnRunes(t *testing.T) {
	long := ""
	for range 300 {
		long += "äb"
	}
	got := oneLine(long)
	if len(got) > 500+len("…") {
		t.Errorf("oneLine kept %d bytes, want at most 500 plus an ellipsis", len(got))
	}
	for _, r := range got {
		if r == '\uFFFD' {
			t.Fatalf("oneLine cut a rune in half: %q", got)
		}
	}
}
