package sink

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestOpenSessionConflict(t *testing.T) {
	const ds = "88677F9E66B666571A3AA683C9BB78E4"
	tests := []struct {
		name     string
		err      error
		sid      string
		conflict bool
	}{
		{"emulator names the session", &Error{Status: http.StatusConflict, Message: `dataset "Sales" already has an open upload session A836A2660F2E379E4BD57F1BA111AF9B: publish it or cancel it`}, "A836A2660F2E379E4BD57F1BA111AF9B", true},
		{"dataset id first, then the session", &Error{Status: http.StatusConflict, Message: "dataset " + ds + " has upload session a836a2660f2e379e4bd57f1ba111af9b open"}, "a836a2660f2e379e4bd57f1ba111af9b", true},
		{"no session named", &Error{Status: http.StatusConflict, Message: "dataset " + ds + " is being updated"}, "", true},
		{"wrapped", fmt.Errorf("run: %w", &Error{Status: http.StatusConflict, Message: "session 0123456789ABCDEF0123456789ABCDEF is open"}), "0123456789ABCDEF0123456789ABCDEF", true},
		{"another status", &Error{Status: http.StatusBadRequest, Message: "session 0123456789ABCDEF0123456789ABCDEF"}, "", false},
		{"not an API error", errors.New("409"), "", false},
		{"nil", nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sid, ok := OpenSessionConflict(tc.err, ds)
			if sid != tc.sid || ok != tc.conflict {
				t.Errorf("OpenSessionConflict = %q, %v; want %q, %v", sid, ok, tc.sid, tc.conflict)
			}
		})
	}
}
