package sink

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
)

// Publish statuses a caller may need to tell apart: PublishStatusDone (1, "result ready")
// and PublishStatusError (3). Every other status is work still going on, or for a session
// not yet published a server's status of its own.
const (
	PublishStatusDone  = publishDone
	PublishStatusError = publishError
)

// Reattach returns upload session sessionID of dataset datasetID, opened earlier (by
// another process, say one that died), so that it can be asked for its publish status,
// published or cancelled. Its tables are not known, so it takes no uploads.
func (c *Client) Reattach(datasetID, sessionID string) *Session {
	return &Session{c: c, datasetID: datasetID, id: sessionID, tables: map[string]bool{}, next: map[string]int{}}
}

// PublishStatus asks the server once for the session's publish status and message. A
// session the server does not know (any more) fails with an error for which IsNotFound
// is true.
func (s *Session) PublishStatus(ctx context.Context) (status int64, message string, err error) {
	st, err := s.publishStatus(ctx)
	if err != nil {
		return 0, "", err
	}
	if st.status == publishDone {
		s.mu.Lock()
		s.published = true
		s.mu.Unlock()
	}
	return st.status, st.message, nil
}

// hexID is a MicroStrategy object or session id: 32 hexadecimal digits.
var hexID = regexp.MustCompile(`\b[0-9A-Fa-f]{32}\b`)

// OpenSessionConflict reports whether err is the server refusing a new upload session on
// datasetID because another is open (409), and the id of the open session when the
// server's message names one (the first 32-hex id in it other than the dataset's).
func OpenSessionConflict(err error, datasetID string) (sessionID string, ok bool) {
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict {
		return "", false
	}
	for _, id := range hexID.FindAllString(e.Message, -1) {
		if !strings.EqualFold(id, datasetID) {
			return id, true
		}
	}
	return "", true
}
