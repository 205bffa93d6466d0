package emulator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cubesync/cubesync/sink"
)

// Table is a dataset table as the last completed publish left it.
type Table struct {
	Columns []sink.Column
	Rows    [][]any // in column order: json.Number for numbers (exact text), string, bool, nil
}

// DatasetInfo describes one dataset the emulator holds.
type DatasetInfo struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	FolderID string   `json:"folderId"`
	Tables   []string `json:"tables"`
}

// SessionInfo describes one open upload session: not cancelled and not yet through publish.
type SessionInfo struct {
	DatasetID string `json:"datasetId"`
	SessionID string `json:"sessionId"`
	Published bool   `json:"published"` // publish was requested and is in progress
}

// Stats counts what the emulator received.
type Stats struct {
	Calls         map[Call]int64 `json:"calls"`         // API calls per kind, including failed ones
	Chunks        int64          `json:"chunks"`        // chunks accepted
	RowsReceived  int64          `json:"rowsReceived"`  // rows in accepted chunks
	BytesReceived int64          `json:"bytesReceived"` // request body bytes of PUTs, accepted or not
	Faults        int64          `json:"faults"`        // injected faults that fired
}

// Table returns a copy of table of the dataset with id datasetID (or, failing that, the one
// dataset with that name). The error wraps ErrNotFound when there is no such dataset or table.
func (s *Server) Table(datasetID, table string) (*Table, error) {
	s.reload()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.findDataset(datasetID)
	if err != nil {
		return nil, err
	}
	t := d.table(table)
	if t == nil {
		return nil, fmt.Errorf("dataset %q has no table %q (tables: %s): %w", d.Name, table, strings.Join(d.tableNames(), ", "), ErrNotFound)
	}
	out := &Table{Columns: make([]sink.Column, len(t.Columns)), Rows: make([][]any, len(t.Rows))}
	for i, c := range t.Columns {
		out.Columns[i] = sink.Column{Name: c.Name, DataType: c.DataType}
	}
	for i, r := range t.Rows {
		out.Rows[i] = slices.Clone(r)
	}
	return out, nil
}

// findDataset looks a dataset up by id, then by name. Called under s.mu.
func (s *Server) findDataset(idOrName string) (*dataset, error) {
	if d, ok := s.datasets[idOrName]; ok {
		return d, nil
	}
	var found *dataset
	for _, d := range s.datasets {
		if d.Name == idOrName {
			if found != nil {
				return nil, fmt.Errorf("dataset name %q is used in several folders: use its id: %w", idOrName, ErrNotFound)
			}
			found = d
		}
	}
	if found == nil {
		return nil, fmt.Errorf("dataset %q: %w", idOrName, ErrNotFound)
	}
	return found, nil
}

// Datasets lists the datasets the emulator holds, by name.
func (s *Server) Datasets() []DatasetInfo {
	s.reload()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DatasetInfo, 0, len(s.datasets))
	for _, d := range s.datasets {
		out = append(out, DatasetInfo{ID: d.ID, Name: d.Name, FolderID: d.FolderID, Tables: d.tableNames()})
	}
	slices.SortFunc(out, func(a, b DatasetInfo) int { return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID) })
	return out
}

// OpenSessions lists the upload sessions that are open: neither cancelled nor through publish.
func (s *Server) OpenSessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.openUpload))
	for dsID, sid := range s.openUpload {
		out = append(out, SessionInfo{DatasetID: dsID, SessionID: sid, Published: s.uploads[sid].published})
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return strings.Compare(a.DatasetID, b.DatasetID) })
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Calls = make(map[Call]int64, len(s.stats.Calls))
	for k, v := range s.stats.Calls {
		st.Calls[k] = v
	}
	return st
}
