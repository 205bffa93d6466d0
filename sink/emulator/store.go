package emulator

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// store keeps datasets as one JSON file each under a directory, written atomically
// (temporary file, fsync, rename).
type store struct {
	dir  string
	seen map[string]fileStamp // by file name: the versions read or written (see reload)
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("emulator data dir: %w", err)
	}
	return &store{dir: dir, seen: map[string]fileStamp{}}, nil
}

const datasetFileSuffix = ".dataset.json"

func (st *store) path(id string) string { return filepath.Join(st.dir, id+datasetFileSuffix) }

func (st *store) load() ([]*dataset, error) {
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return nil, fmt.Errorf("emulator data dir: %w", err)
	}
	var out []*dataset
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), datasetFileSuffix) {
			continue
		}
		p := filepath.Join(st.dir, e.Name())
		d, err := readDataset(p)
		if err != nil {
			return nil, fmt.Errorf("emulator data dir: load %s: %w (move the file away to start without it)", p, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func readDataset(path string) (*dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber() // keep BIGINTEGER and BIGDECIMAL values exact
	var d dataset
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	if d.ID == "" || len(d.Tables) == 0 {
		return nil, fmt.Errorf("not a dataset file (no id or no tables)")
	}
	for _, t := range d.Tables {
		for i, r := range t.Rows {
			if len(r) != len(t.Columns) {
				return nil, fmt.Errorf("table %q row %d has %d values, want %d", t.Name, i+1, len(r), len(t.Columns))
			}
		}
	}
	return &d, nil
}

// write replaces the file of dataset id with data.
func (st *store) write(id string, data []byte) error {
	f, err := os.CreateTemp(st.dir, id+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, st.path(id))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(st.dir); err == nil {
		_ = d.Sync() // make the rename durable
		_ = d.Close()
	}
	return nil
}

// persist writes dataset id to the data dir, if there is one. persistMu orders the writes:
// the file always ends up with the state of the last change.
func (s *Server) persist(id string) error {
	if s.store == nil {
		return nil
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	d, ok := s.datasets[id]
	var data []byte
	var err error
	if ok {
		data, err = json.Marshal(d)
	}
	s.mu.Unlock()
	if !ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("persist dataset %s: %w", id, err)
	}
	if err := s.store.write(id, data); err != nil {
		return fmt.Errorf("persist dataset %s to %s: %w", id, s.store.dir, err)
	}
	s.store.markWritten(id)
	return nil
}
