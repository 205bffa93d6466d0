package parquetfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrNoFiles reports that a table's parquet pattern matched no Parquet file.
var ErrNoFiles = errors.New("no parquet files")

// ErrNotRegular reports that a table's parquet pattern matched something other than a
// regular file or a directory: a named pipe, a device or a socket. Such a file is never
// opened, since opening or reading it may block for ever.
var ErrNotRegular = errors.New("not a regular file")

// FileInfo describes one Parquet file a pattern matched.
type FileInfo struct {
	Path    string // as resolved: absolute when the pattern or baseDir was, else relative to the working directory
	Size    int64
	ModTime time.Time
}

// resolve lists the files pattern names, sorted by path. pattern is a file, a directory (its
// *.parquet files, not recursive) or a filepath.Match glob; a relative pattern is taken
// relative to baseDir. An existing path is never treated as a glob, so a file whose name
// contains '[' can still be named directly.
func resolve(pattern, baseDir, baseName string) ([]FileInfo, error) {
	if strings.TrimSpace(pattern) == "" {
		return nil, errors.New("parquet pattern is empty (give a file, a directory or a glob)")
	}
	full := pattern
	if !filepath.IsAbs(full) && baseDir != "" {
		full = filepath.Join(baseDir, full)
	}

	st, statErr := os.Stat(full)
	switch {
	case statErr == nil && st.IsDir():
		return listDir(pattern, full)
	case statErr == nil:
		if err := checkRegular(pattern, full, st); err != nil {
			return nil, err
		}
		return []FileInfo{{Path: full, Size: st.Size(), ModTime: st.ModTime()}}, nil
	case !errors.Is(statErr, fs.ErrNotExist):
		return nil, fmt.Errorf("parquet %q: %w", pattern, statErr)
	case !hasMeta(full):
		return nil, fmt.Errorf("parquet %q: %w: %s does not exist (check the path; a relative path is resolved against %s)",
			pattern, ErrNoFiles, full, describeBase(baseDir, baseName))
	}

	matches, err := filepath.Glob(full)
	if err != nil {
		return nil, fmt.Errorf("parquet %q: bad glob: %w", pattern, err)
	}
	var files []FileInfo
	for _, m := range matches {
		fi, ok, err := statListed(pattern, m)
		if err != nil {
			return nil, err
		}
		if ok {
			files = append(files, fi)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("parquet %q: %w: the glob %s matches no file (a relative path is resolved against %s)",
			pattern, ErrNoFiles, full, describeBase(baseDir, baseName))
	}
	sortFiles(files)
	return files, nil
}

// statListed stats path, a file pattern lists, following symlinks (unlike a DirEntry's
// Info): ok is false for a directory, which a listing skips; a file that is not regular is
// an error (checkRegular).
func statListed(pattern, path string) (fi FileInfo, ok bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, false, fmt.Errorf("parquet %q: %w", pattern, err)
	}
	if st.IsDir() {
		return FileInfo{}, false, nil
	}
	if err := checkRegular(pattern, path, st); err != nil {
		return FileInfo{}, false, err
	}
	return FileInfo{Path: path, Size: st.Size(), ModTime: st.ModTime()}, true, nil
}

// listDir lists the *.parquet files directly in dir. Names starting with '.' or '_' are
// skipped: writers such as Spark and Hive use them for temporary and metadata files.
func listDir(pattern, dir string) ([]FileInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("parquet %q: %w", pattern, err)
	}
	var files []FileInfo
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(strings.ToLower(name), ".parquet") ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		fi, ok, err := statListed(pattern, filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if ok {
			files = append(files, fi)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("parquet %q: %w: directory %s has no *.parquet file", pattern, ErrNoFiles, dir)
	}
	sortFiles(files)
	return files, nil
}

// checkRegular refuses path, which pattern matched, unless it is a regular file (st follows
// symlinks). Directories are handled by the callers before.
func checkRegular(pattern, path string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("parquet %q: %s is %s, %w: cubesync reads only regular Parquet files (remove it or narrow the pattern)",
		pattern, path, describeMode(st.Mode()), ErrNotRegular)
}

// describeMode names the kind of a file that is not regular.
func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	default:
		return "of mode " + m.Type().String()
	}
}

func sortFiles(files []FileInfo) {
	slices.SortFunc(files, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
}

func hasMeta(path string) bool { return strings.ContainsAny(path, "*?[") }

func describeBase(baseDir, name string) string {
	if name != "" {
		return name
	}
	if baseDir == "" {
		return "the working directory"
	}
	return baseDir
}

// Files lists the Parquet files pattern matches, as Open would read them, without opening
// any; baseDir and baseName are as for Open. When none matches the error wraps ErrNoFiles.
func Files(pattern, baseDir, baseName string) ([]FileInfo, error) {
	return resolve(pattern, baseDir, baseName)
}
