package emulator

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// store keeps datasets as one JSON file each under a directory, written atomically
// (temporary file, fsync, rename).
type store struct {
	dir  string
	seen map[string]fileStamp // by file name: the versions read or written (see reload)
}

func openStore(dir string, log *slog.Logger) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("emulator data dir: %w", err)
	}
	st := &store{dir: dir, seen: map[string]fileStamp{}}
	st.removeStaleTemp(log)
	return st, nil
}

// tempSuffix ends the name of a dataset file being written; the name before it holds the
// writer's process id (ID.pidN.RANDOM.tmp), so that a temporary file left by a writer that
// died can be told from one another process is writing now in a shared data dir.
const tempSuffix = ".tmp"

// removeStaleTemp removes the temporary files of writes that never finished: their process
// was killed between creating the file and renaming it. A file whose writer still runs is
// left alone.
func (st *store) removeStaleTemp(log *slog.Logger) {
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return // load reports an unreadable directory
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), tempSuffix) {
			continue
		}
		p := filepath.Join(st.dir, e.Name())
		if pid, ok := tempWriter(e.Name()); ok {
			// This process's pid may be that of a killed one before it (pid 1 in a restarted
			// container): its own files are stale unless one of its writes has them open.
			own := pid == os.Getpid()
			if (own && writing.has(p)) || (!own && writerRunning(pid, e)) {
				continue
			}
		}
		if err := os.Remove(p); err != nil {
			log.Warn("leftover temporary file not removed", "file", p, "err", err)
			continue
		}
		log.Info("leftover temporary file removed", "file", p)
	}
}

// writing holds the temporary files this process is writing. It is process-wide, like the
// pid in their names: two Servers of one process may share a data dir.
var writing = &inFlight{paths: map[string]bool{}}

type inFlight struct {
	mu    sync.Mutex
	paths map[string]bool
}

func (w *inFlight) add(p string)    { w.mu.Lock(); w.paths[p] = true; w.mu.Unlock() }
func (w *inFlight) remove(p string) { w.mu.Lock(); delete(w.paths, p); w.mu.Unlock() }

func (w *inFlight) has(p string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.paths[p]
}

// tempWriter returns the process id in the name of a temporary dataset file.
func tempWriter(name string) (int, bool) {
	for _, part := range strings.Split(strings.TrimSuffix(name, tempSuffix), ".") {
		if n, ok := strings.CutPrefix(part, "pid"); ok {
			if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
				return pid, true
			}
		}
	}
	return 0, false
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
	f, err := os.CreateTemp(st.dir, fmt.Sprintf("%s.pid%d.*%s", id, os.Getpid(), tempSuffix))
	if err != nil {
		return err
	}
	tmp := f.Name()
	writing.add(tmp)
	defer writing.remove(tmp)
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
	return s.write(id, data)
}

// save writes d, as it will be once a publish is applied, to the data dir, if there is one.
// The caller holds persistMu and mu, in that order.
func (s *Server) save(d *dataset) error {
	if s.store == nil {
		return nil
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("persist dataset %s: %w", d.ID, err)
	}
	return s.write(d.ID, data)
}

// write writes the file of dataset id, under persistMu.
func (s *Server) write(id string, data []byte) error {
	if err := s.store.write(id, data); err != nil {
		return fmt.Errorf("persist dataset %s to %s: %w", id, s.store.dir, err)
	}
	s.store.markWritten(id)
	return nil
}
