package emulator

import (
	"time"
)

// Call is a kind of API call, for fault injection and statistics.
type Call string

// The API calls the emulator answers.
const (
	CallLogin         Call = "login"          // POST /api/auth/login
	CallLogout        Call = "logout"         // POST /api/auth/logout
	CallStatus        Call = "status"         // GET /api/status
	CallSessions      Call = "sessions"       // GET and PUT /api/sessions
	CallProjects      Call = "projects"       // GET /api/projects
	CallObject        Call = "object"         // GET /api/objects/{id}
	CallCube          Call = "cube"           // GET /api/v2/cubes/{id}
	CallModel         Call = "model"          // POST /api/datasets/models
	CallDefinition    Call = "definition"     // GET /api/datasets/{id}
	CallOpenSession   Call = "open_session"   // POST /api/datasets/{id}/uploadSessions
	CallPut           Call = "put"            // PUT /api/datasets/{id}/uploadSessions/{sid}
	CallPublish       Call = "publish"        // POST .../publish
	CallPublishStatus Call = "publish_status" // GET .../publishStatus
	CallDelete        Call = "delete"         // DELETE /api/datasets/{id}/uploadSessions/{sid}
)

func validCall(c Call) bool {
	switch c {
	case CallLogin, CallLogout, CallStatus, CallSessions, CallProjects, CallObject, CallCube, CallModel,
		CallDefinition, CallOpenSession, CallPut, CallPublish, CallPublishStatus, CallDelete:
		return true
	}
	return false
}

// fault is one armed FailNth.
type fault struct {
	left   int // calls of its kind still to come before it fires; 1 = the next one
	status int
	body   string
}

// FailNth makes the nth future call of kind call (n = 1: the next one) fail once with status
// and body; body "" sends the MicroStrategy error body a real server would send with status.
// The failed call has no effect. Faults for the same kind count independently.
func (s *Server) FailNth(call Call, n int, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[call] = append(s.faults[call], &fault{left: max(n, 1), status: status, body: body})
}

// takeFault counts one call of kind call against the armed faults and returns the one that
// fires, if any. Called under s.mu.
func (s *Server) takeFault(call Call) *fault {
	pending := s.faults[call]
	var fired *fault
	kept := pending[:0]
	for _, f := range pending {
		f.left--
		if f.left <= 0 && fired == nil {
			fired = f
			continue
		}
		if f.left <= 0 {
			f.left = 1 // two faults on the same call: the second fires on the next one
		}
		kept = append(kept, f)
	}
	if len(kept) == 0 {
		delete(s.faults, call)
	} else {
		s.faults[call] = kept
	}
	if fired != nil {
		s.stats.Faults++
	}
	return fired
}

// ClearFaults disarms every pending FailNth and FailPublish.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
	s.failPublish = nil
}

// SetPublishDelay sets how long later publishes stay at status 6 before they complete.
func (s *Server) SetPublishDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishDelay = max(d, 0)
}

// FailPublish makes the next publish end with publishStatus status (e.g. 3) and message,
// applying nothing.
func (s *Server) FailPublish(status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failPublish = &publishFailure{status: status, message: message}
}
