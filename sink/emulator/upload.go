package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cubesync/cubesync/sink"
)

// Publish statuses, as publishStatus reports them.
const (
	statusOpen       = 0 // not published yet
	statusReady      = 1 // "result ready": applied
	statusError      = 3
	statusPublishing = 6 // "sql execution"
	statusCancelled  = -1
)

// upload is one upload session.
type upload struct {
	id        string
	datasetID string
	tables    []*uploadTable
	status    int
	message   string
	published bool          // publish was requested
	progress  []int         // in-progress statuses still to report (Options.PublishStatuses)
	reported  chan struct{} // closed once progress is empty: the publish may complete
	ended     bool          // cancelled, or its publish has completed
	endedAt   time.Time     // when it ended, to forget it after a while
}

// uploadTable is one table of an upload session and the chunks received for it.
type uploadTable struct {
	name   string
	policy sink.Policy
	column bool            // COLUMN orientation
	pos    []int           // for each value position of a chunk: the dataset column it fills
	types  []sink.DataType // dataType of each value position
	names  []string        // column name of each value position
	width  int             // number of columns of the dataset table
	chunks map[int][][]any // by index: rows in dataset column order (nil with Options.Discard)
}

func (u *upload) table(name string) *uploadTable {
	for _, t := range u.tables {
		if t.name == name {
			return t
		}
	}
	return nil
}

func (u *upload) tableNames() []string {
	names := make([]string, len(u.tables))
	for i, t := range u.tables {
		names[i] = t.name
	}
	return names
}

// sessionRequest is the body of POST .../uploadSessions.
type sessionRequest struct {
	Tables []struct {
		Name          string   `json:"name"`
		UpdatePolicy  string   `json:"updatePolicy"`
		Orientation   *string  `json:"orientation"`
		ColumnHeaders []string `json:"columnHeaders"`
	} `json:"tables"`
}

func (s *Server) handleOpenSession(w http.ResponseWriter, req *request) error {
	var body sessionRequest
	if err := decodeJSON(req.r.Body, &body, "upload session"); err != nil {
		return err
	}
	if len(body.Tables) == 0 {
		return missingField("upload session lists no tables: give at least one table with its updatePolicy")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupDataset(req.params["id"])
	if err != nil {
		return err
	}
	if sid, ok := s.openUpload[d.ID]; ok {
		return errorf(http.StatusConflict, "ERR006", "dataset %q already has an open upload session %s: publish it or cancel it with DELETE before opening another", d.Name, sid)
	}
	s.forgetEndedUploads()
	u := &upload{id: newID(), datasetID: d.ID}
	for i, bt := range body.Tables {
		t := d.table(bt.Name)
		if t == nil {
			if bt.Name == "" {
				return missingField("tables[%d]: missing name", i)
			}
			return badInput("table %q is not part of dataset %q (tables: %s)", bt.Name, d.Name, strings.Join(d.tableNames(), ", "))
		}
		if u.table(t.Name) != nil {
			return badInput("table %q is listed twice in the upload session", t.Name)
		}
		policy := sink.Policy(bt.UpdatePolicy)
		switch policy {
		case sink.Add, sink.Update, sink.Upsert, sink.Replace:
		case "":
			return missingField("table %q: missing updatePolicy (want add, update, upsert or replace)", t.Name)
		default:
			return badInput("table %q: invalid updatePolicy %q (want add, update, upsert or replace, in lower case)", t.Name, bt.UpdatePolicy)
		}
		ut := &uploadTable{name: t.Name, policy: policy, width: len(t.Columns), chunks: map[int][][]any{}}
		if bt.Orientation != nil {
			switch strings.ToUpper(*bt.Orientation) {
			case "ROW":
			case "COLUMN":
				ut.column = true
			default:
				return badInput("table %q: invalid orientation %q (want ROW or COLUMN)", t.Name, *bt.Orientation)
			}
		}
		headers := bt.ColumnHeaders
		if headers == nil {
			headers = t.columnNames()
		}
		var unknown []string
		for _, h := range headers {
			j := t.column(h)
			if j < 0 {
				unknown = append(unknown, h)
				continue
			}
			if slices.Contains(ut.pos, j) {
				return badInput("table %q: column %q is listed twice in columnHeaders", t.Name, h)
			}
			ut.pos = append(ut.pos, j)
			ut.types = append(ut.types, t.Columns[j].DataType)
			ut.names = append(ut.names, h)
		}
		if len(unknown) > 0 {
			return badInput("table %q: unknown columns %s in columnHeaders (columns: %s)", t.Name, quoteList(unknown), strings.Join(t.columnNames(), ", "))
		}
		if len(ut.pos) != len(t.Columns) {
			var missing []string
			for j, c := range t.Columns {
				if !slices.Contains(ut.pos, j) {
					missing = append(missing, c.Name)
				}
			}
			return badInput("table %q: columnHeaders lack columns %s: every column of the table must be sent", t.Name, quoteList(missing))
		}
		u.tables = append(u.tables, ut)
	}
	s.uploads[u.id] = u
	s.openUpload[d.ID] = u.id
	s.log.Info("upload session opened", "dataset_id", d.ID, "upload_session", u.id, "tables", strings.Join(u.tableNames(), ","))
	writeJSON(w, http.StatusOK, map[string]any{"uploadSessionId": u.id})
	return nil
}

// lookupUpload returns the upload session sid of dataset id, under s.mu.
func (s *Server) lookupUpload(datasetID, sid string) (*upload, error) {
	u, ok := s.uploads[sid]
	if !ok || u.datasetID != datasetID {
		return nil, notFound("upload session %s of dataset %s not found: it was cancelled, or never opened", sid, datasetID)
	}
	return u, nil
}

// endUpload ends u with status and message, under s.mu. A cancelled session is forgotten; an
// ended one stays readable through publishStatus until it is deleted.
func (s *Server) endUpload(u *upload, status int, message string) {
	if u == nil {
		return
	}
	u.ended, u.endedAt = true, s.now()
	u.status, u.message = status, message
	if len(u.progress) > 0 { // a publish still waiting for its statuses to be reported
		u.progress = nil
		close(u.reported)
	}
	for _, t := range u.tables {
		t.chunks = nil
	}
	if s.openUpload[u.datasetID] == u.id {
		delete(s.openUpload, u.datasetID)
	}
	if status == statusCancelled {
		delete(s.uploads, u.id)
	}
}

// forgetEndedUploads drops sessions that ended longer ago than the session idle timeout, so
// a long-running emulator does not grow without bound. Called under s.mu.
func (s *Server) forgetEndedUploads() {
	cutoff := s.now().Add(-s.opts.SessionIdle)
	for id, u := range s.uploads {
		if u.ended && u.endedAt.Before(cutoff) {
			delete(s.uploads, id)
		}
	}
}

func (s *Server) handleDelete(w http.ResponseWriter, req *request) error {
	s.mu.Lock()
	u, err := s.lookupUpload(req.params["id"], req.params["sid"])
	if err == nil {
		cancelled := !u.ended
		s.endUpload(u, statusCancelled, "cancelled")
		delete(s.uploads, u.id)
		s.log.Info("upload session deleted", "dataset_id", u.datasetID, "upload_session", u.id, "cancelled", cancelled)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handlePublish(w http.ResponseWriter, req *request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.lookupUpload(req.params["id"], req.params["sid"])
	if err != nil {
		return err
	}
	if s.closed { // Close is waiting for publishes: start no new one
		return errorf(http.StatusServiceUnavailable, "ERR001", "the emulator is shutting down")
	}
	if !u.published {
		u.published = true
		u.status, u.message = statusPublishing, "sql execution"
		u.progress = slices.Clone(s.opts.PublishStatuses)
		u.reported = make(chan struct{})
		if len(u.progress) == 0 {
			close(u.reported)
		}
		fail := s.failPublish
		s.failPublish = nil
		s.publishes.Add(1)
		go s.runPublish(u, s.publishDelay, fail)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handlePublishStatus(w http.ResponseWriter, req *request) error {
	s.mu.Lock()
	u, err := s.lookupUpload(req.params["id"], req.params["sid"])
	var status int
	var message string
	if err == nil {
		status, message = u.status, u.message
		switch {
		case !u.published:
			message = "not published: send POST .../publish"
		case !u.ended && len(u.progress) > 0:
			status, message = u.progress[0], statusMessage(u.progress[0])
			u.progress = u.progress[1:]
			if len(u.progress) == 0 {
				close(u.reported)
			}
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	var sent any = status
	if s.opts.StatusAsString {
		sent = strconv.Itoa(status)
	}
	writeJSON(w, http.StatusOK, map[string]any{"uploadSessionId": u.id, "status": sent, "message": message})
	return nil
}

// publishFailure is what FailPublish arms.
type publishFailure struct {
	status  int
	message string
}

// statusMessage is the message publishStatus sends with an in-progress status, after
// MicroStrategy's job status enum.
func statusMessage(status int) string {
	switch status {
	case 0:
		return "ready"
	case 2:
		return "waiting"
	case 4:
		return "running"
	case 5:
		return "in SQL engine"
	case 6:
		return "sql execution"
	case 7:
		return "analytical engine"
	case 8:
		return "resolution"
	case 9:
		return "waiting for cache"
	case 10:
		return "updating cache"
	}
	return "in progress"
}

// runPublish waits out the publish delay and until every in-progress status of
// Options.PublishStatuses was reported, then applies every table of u at once.
func (s *Server) runPublish(u *upload, delay time.Duration, fail *publishFailure) {
	defer s.publishes.Done()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
		}
	}
	select {
	case <-u.reported:
	case <-s.done:
	}
	// The data dir holds the published rows before publishStatus may say 1: a client told
	// "published" must find them after the emulator is killed. persistMu is taken before mu,
	// in the order reload and persist take them, and both are held from the check to the
	// swap, so that no DELETE or reload comes between what is written and what is served.
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case u.ended: // cancelled with DELETE while publishing
		return
	case s.closed:
		s.endUpload(u, statusError, "the emulator shut down before the publish completed")
		return
	case fail != nil:
		s.endUpload(u, fail.status, fail.message)
		s.log.Info("publish failed (injected)", "dataset_id", u.datasetID, "upload_session", u.id, "status", fail.status)
		return
	}
	d := s.datasets[u.datasetID]
	rows := map[string]int{}
	if !s.opts.Discard {
		next := make(map[string][][]any, len(u.tables))
		for _, ut := range u.tables {
			next[ut.name] = applyPolicy(d.table(ut.name), ut)
		}
		if err := s.save(d.withRows(next)); err != nil {
			s.endUpload(u, statusError, fmt.Sprintf("the emulator could not save the published data, nothing was published: %v", err))
			s.log.Error("publish failed: persist dataset", "dataset_id", u.datasetID, "upload_session", u.id, "err", err)
			return
		}
		// Swap all tables together: the publish is atomic.
		for name, r := range next {
			d.table(name).Rows = r
			rows[name] = len(r)
		}
	}
	s.endUpload(u, statusReady, "result ready")
	s.log.Info("published", "dataset_id", u.datasetID, "upload_session", u.id, "rows", fmt.Sprint(rows))
}

// orderedRows returns the rows of ut's chunks in index order.
func (ut *uploadTable) orderedRows() [][]any {
	idx := make([]int, 0, len(ut.chunks))
	n := 0
	for i, c := range ut.chunks {
		idx = append(idx, i)
		n += len(c)
	}
	slices.Sort(idx)
	rows := make([][]any, 0, n)
	for _, i := range idx {
		rows = append(rows, ut.chunks[i]...)
	}
	return rows
}
