package emulator

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fileStamp tells versions of a dataset file apart: an atomic rename gives a new file, with
// its own modification time and usually its own size.
type fileStamp struct {
	size    int64
	modTime time.Time
	inode   uint64 // 0 where the system has none
}

// stamps returns the stamp of every dataset file in the data dir, by file name.
func (st *store) stamps() map[string]fileStamp {
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return nil
	}
	out := make(map[string]fileStamp, len(entries))
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), datasetFileSuffix) {
			continue
		}
		if info, err := e.Info(); err == nil {
			out[e.Name()] = stampOf(info)
		}
	}
	return out
}

// markWritten records the stamp of the file this server just wrote for dataset id, so that
// reload does not read it back.
func (st *store) markWritten(id string) {
	if info, err := os.Stat(st.path(id)); err == nil {
		st.seen[filepath.Base(st.path(id))] = stampOf(info)
	}
}

// reload reads the dataset files that another process (run-job with an embedded target,
// another emulator) wrote to the data dir since this server last read or wrote them, so that
// a standalone emulator shows datasets published after it started. It runs before every
// request; a directory listing is all it costs when nothing changed. Files removed by
// others are not forgotten: the datasets stay.
func (s *Server) reload() {
	if s.store == nil {
		return
	}
	// persistMu: this server's own write and its stamp are one step for reload.
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	for name, stamp := range s.store.stamps() {
		if s.store.seen[name] == stamp {
			continue
		}
		s.store.seen[name] = stamp // a bad file is reported once per version
		d, err := readDataset(filepath.Join(s.store.dir, name))
		if err != nil {
			s.log.Warn("dataset file not loaded", "file", name, "err", err)
			continue
		}
		s.mu.Lock()
		_, known := s.datasets[d.ID]
		s.datasets[d.ID] = d
		s.mu.Unlock()
		msg := "dataset loaded"
		if known {
			msg = "dataset reloaded"
		}
		s.log.Info(msg, "dataset_id", d.ID, "dataset", d.Name, "file", name)
	}
}
