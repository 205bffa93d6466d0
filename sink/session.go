package sink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Session is one open upload session: chunks for several tables of one dataset, published
// together. Whoever opens a session must end it: Publish, or Cancel after any failure (an
// error, a timeout, a cancelled context), so that nothing half-pushed is ever published:
//
//	s, err := c.OpenSession(ctx, id, tables)
//	if err != nil { ... }
//	defer func() {
//		if err != nil {
//			s.Cancel() // its own deadline: works after ctx has ended
//		}
//	}()
type Session struct {
	c         *Client
	datasetID string
	id        string
	tables    map[string]bool

	mu        sync.Mutex
	next      map[string]int // last index used per table
	published bool
	cancelled bool
}

// OpenSession opens an upload session on dataset datasetID for tables, each with its update
// policy and the column order of its chunks. The chunks are column-oriented, so an empty
// Orientation becomes "COLUMN" and any other is refused.
func (c *Client) OpenSession(ctx context.Context, datasetID string, tables []SessionTable) (*Session, error) {
	op := fmt.Sprintf("open upload session on dataset %s", datasetID)
	if len(tables) == 0 {
		return nil, fmt.Errorf("%s: no tables", op)
	}
	names := make(map[string]bool, len(tables))
	sent := make([]SessionTable, len(tables))
	for i, t := range tables {
		if names[t.Name] {
			return nil, fmt.Errorf("%s: table %q is listed twice", op, t.Name)
		}
		names[t.Name] = true
		switch strings.ToUpper(t.Orientation) {
		case "", "COLUMN":
			t.Orientation = "COLUMN"
		default:
			return nil, fmt.Errorf("%s: table %q: orientation %q is not supported (cubesync's chunks are column-oriented: leave it empty)", op, t.Name, t.Orientation)
		}
		switch t.UpdatePolicy {
		case Add, Update, Upsert, Replace:
		default:
			return nil, fmt.Errorf("%s: table %q: unknown update policy %q (want add, update, upsert or replace)", op, t.Name, t.UpdatePolicy)
		}
		sent[i] = t
	}
	body, n, err := jsonBody(map[string]any{"tables": sent})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	resp, err := c.do(ctx, call{
		op: op, method: http.MethodPost, path: datasetPath(datasetID) + "/uploadSessions", body: body, length: n,
		hint: func(e *Error) {
			switch e.Status {
			case http.StatusConflict, http.StatusBadRequest:
				e.Hint = "if another upload session is still open on this dataset (a run that died?), cancel it first; otherwise check the tables and columns pushed against the dataset"
			case http.StatusNotFound:
				e.Hint = "the dataset does not exist (any more) in this project"
			}
		},
	})
	if err != nil {
		return nil, err
	}
	var opened struct {
		ID string `json:"uploadSessionId"`
	}
	if err := json.Unmarshal(resp.body, &opened); err != nil || opened.ID == "" {
		return nil, fmt.Errorf("%s: the server's answer has no uploadSessionId: %s", op, oneLine(string(resp.body)))
	}
	c.log.Info("upload session opened", "dataset_id", datasetID, "session_id", opened.ID, "tables", len(tables))
	return &Session{c: c, datasetID: datasetID, id: opened.ID, tables: names, next: map[string]int{}}, nil
}

// ID is the server's upload session id; a runner records it so that a later run can cancel
// the session if this one dies.
func (s *Session) ID() string { return s.id }

// DatasetID is the dataset the session uploads to.
func (s *Session) DatasetID() string { return s.datasetID }

// nextIndex hands out the next chunk index of table: 1, 2, 3, ...
func (s *Session) nextIndex(table string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next[table]++
	return s.next[table]
}

// open reports an error when the session can take no more calls.
func (s *Session) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.published:
		return errors.New("the upload session is already published")
	case s.cancelled:
		return errors.New("the upload session is cancelled")
	}
	return nil
}

// Upload sends ch as the next chunk of table. The index (1, 2, 3, ... per table) is assigned
// here and kept when the call is retried. A chunk the server refuses as too large (413) is
// split in two halves that are sent with consecutive indices, recursively. Upload may be
// called concurrently for different tables; the chunks of one table must be uploaded one at
// a time, as the server applies them in index order. Upload does not release ch.
func (s *Session) Upload(ctx context.Context, table string, ch *Chunk) error {
	if !s.tables[table] {
		return fmt.Errorf("upload table %q: not part of upload session %s (its tables: %s)", table, s.id, strings.Join(slices.Sorted(maps.Keys(s.tables)), ", "))
	}
	if err := s.open(); err != nil {
		return fmt.Errorf("upload table %q: %w", table, err)
	}
	return s.upload(ctx, table, s.nextIndex(table), ch)
}

func (s *Session) upload(ctx context.Context, table string, index int, ch *Chunk) error {
	op := fmt.Sprintf("upload table %q chunk %d", table, index)
	body := newChunkBody(table, index, ch)
	sent := 0
	_, span := startSpan(ctx, "upload chunk", attribute.String("cubesync.table", table), attribute.Int("cubesync.chunk", index),
		attribute.Int64("cubesync.rows", int64(ch.Rows())), attribute.Int64("cubesync.bytes", ch.Len()))
	_, err := s.c.do(ctx, call{op: op, method: http.MethodPut, path: sessionPath(s.datasetID, s.id), body: body.open, length: body.size, sent: &sent})
	body.finish()
	// attempt: how many times the chunk was sent (1 unless a transient failure was retried)
	span.SetAttributes(attribute.Int("cubesync.attempt", sent))
	endSpan(span, err)
	if err == nil {
		s.c.log.Debug("chunk pushed", "table", table, "index", index, "rows", ch.Rows(), "bytes", ch.Len())
		return nil
	}
	if !IsTooLarge(err) {
		return err
	}
	first, second, splitErr := ch.Split()
	if splitErr != nil {
		var e *Error
		errors.As(err, &e)
		if errors.Is(splitErr, ErrUnsplittable) {
			e.Hint = "a single row is larger than the server's maximum request size: raise the web server's request size limit"
		} else {
			e.Hint = fmt.Sprintf("could not split the chunk to send it in smaller parts: %v", splitErr)
		}
		return e
	}
	s.c.log.Info("chunk too large for the server, splitting", "table", table, "index", index, "rows", ch.Rows(), "bytes", ch.Len())
	if err := s.upload(ctx, table, index, first); err != nil {
		return err
	}
	return s.upload(ctx, table, s.nextIndex(table), second)
}

// chunkBody is the request body of one chunk PUT, `{"tableName":..,"index":..,"data":"<base64>"}`,
// streamed: the base64 text is produced by the transport's own reads, straight into its
// buffer, never held as a second copy of the chunk (and with no goroutine or pipe between
// the encoder and the socket). Each open (the first send, and every retry through GetBody)
// reads the chunk afresh; finish stops every reader, waiting for a read in progress, so the
// chunk is no longer read once the upload returns and the caller may release it, even
// should the transport still try to read a body whose response came early.
type chunkBody struct {
	prefix string
	ch     *Chunk
	size   int64

	mu      sync.Mutex
	readers []*chunkReader
}

// errBodyDone ends the reads of a body whose request is over.
var errBodyDone = errors.New("chunk upload finished")

const chunkBodySuffix = `"}`

func newChunkBody(table string, index int, ch *Chunk) *chunkBody {
	name, _ := json.Marshal(table) // a string always marshals
	prefix := `{"tableName":` + string(name) + `,"index":` + strconv.Itoa(index) + `,"data":"`
	size := int64(len(prefix)) + encodedLen(ch.Len()) + int64(len(chunkBodySuffix))
	return &chunkBody{prefix: prefix, ch: ch, size: size}
}

// encodedLen is the length of the padded standard base64 of n bytes.
func encodedLen(n int64) int64 { return (n + 2) / 3 * 4 }

func (b *chunkBody) open() (io.ReadCloser, error) {
	r := &chunkReader{pending: []byte(b.prefix), segs: b.ch.segments()}
	b.mu.Lock()
	b.readers = append(b.readers, r)
	b.mu.Unlock()
	return r, nil
}

func (b *chunkBody) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.readers {
		_ = r.Close()
	}
}

// chunkReader is one read of a chunk body: what is pending (the prefix at first, later
// the last base64 group and the suffix), then the base64 of the chunk's JSON, encoded from
// the chunk's blocks straight into the caller's buffer.
type chunkReader struct {
	mu      sync.Mutex
	closed  bool
	pending []byte   // bytes to return before anything else
	segs    [][]byte // the JSON document not encoded yet
	carry   [3]byte  // bytes of a group split between segments
	ncarry  int
	ended   bool // the last group and the suffix are in pending (or were returned)
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errBodyDone
	}
	n := 0
	for len(p) > 0 {
		if len(r.pending) > 0 {
			k := copy(p, r.pending)
			r.pending, p, n = r.pending[k:], p[k:], n+k
			continue
		}
		if r.ended {
			break
		}
		if len(p) < 4 {
			if n > 0 {
				break
			}
			// Too small for a group: encode one into pending and hand out part of it.
			var g [4]byte
			if !r.group(g[:]) {
				continue // the document ended: pending holds the rest
			}
			r.pending = append(r.pending[:0], g[:]...)
			continue
		}
		if len(r.segs) == 0 || r.ncarry > 0 || len(r.segs[0]) < 3 {
			if !r.group(p) {
				continue
			}
			p, n = p[4:], n+4
			continue
		}
		seg := r.segs[0]
		k := min(len(seg)/3, len(p)/4) * 3
		encodeBase64(p, seg[:k])
		p, n = p[k/3*4:], n+k/3*4
		if r.segs[0] = seg[k:]; len(r.segs[0]) == 0 {
			r.segs = r.segs[1:]
		}
	}
	if n == 0 && r.ended {
		return 0, io.EOF
	}
	return n, nil
}

// group encodes the next 3 bytes of the document, gathered across segments, into dst[:4].
// At the end of the document it puts the last, padded, group and the suffix in pending
// instead and returns false.
func (r *chunkReader) group(dst []byte) bool {
	for r.ncarry < 3 && len(r.segs) > 0 {
		seg := r.segs[0]
		k := copy(r.carry[r.ncarry:], seg)
		r.ncarry += k
		if r.segs[0] = seg[k:]; len(r.segs[0]) == 0 {
			r.segs = r.segs[1:]
		}
	}
	if r.ncarry == 3 {
		base64.StdEncoding.Encode(dst, r.carry[:])
		r.ncarry = 0
		return true
	}
	tail := make([]byte, base64.StdEncoding.EncodedLen(r.ncarry), 4+len(chunkBodySuffix))
	base64.StdEncoding.Encode(tail, r.carry[:r.ncarry])
	r.pending = append(tail, chunkBodySuffix...)
	r.ncarry = 0
	r.ended = true
	return false
}

// Close stops the reader: later reads return errBodyDone. It waits for a read in progress.
func (r *chunkReader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.segs = nil
	r.mu.Unlock()
	return nil
}

// Publish statuses of publishStatus. 1 ("result ready") is done and 3 is an error; every
// other value is MicroStrategy's job status enum for work still going on (4 running, 6 SQL
// execution, 8 resolution, 9 waiting for cache, 10 updating cache, ...) and is waited on,
// bounded by Config.PublishTimeout. No other rule for errors is documented, so none is guessed.
const (
	publishDone  = 1
	publishError = 3
)

// Publish polling: the first poll after firstPoll, each further delay half as long again,
// capped at maxPoll. firstPoll is the contract's lowest (push-api.md: 100–200 ms): a small
// table publishes in well under a second, and every run waits this long at least, a tenth
// of a 2 M-row run.
const (
	firstPoll = 100 * time.Millisecond
	maxPoll   = 2 * time.Second
)

// ErrPublishTimeout is wrapped by Publish when the publish did not finish within
// Config.PublishTimeout.
var ErrPublishTimeout = errors.New("publish did not finish in time")

// PublishError is a publish the server reported as failed (an error status of publishStatus).
type PublishError struct {
	DatasetID string
	SessionID string
	Status    int64
	Message   string
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("publish upload session %s of dataset %s: failed with status %d %q; nothing was published, run the job again once the cause is fixed",
		e.SessionID, e.DatasetID, e.Status, e.Message)
}

// Publish publishes everything uploaded in the session, all tables at once, and waits until
// the server reports it done (status 1). An error status fails with the server's message as a
// *PublishError; a publish still running after Config.PublishTimeout fails with an error
// wrapping ErrPublishTimeout. The caller should Cancel the session after any error.
func (s *Session) Publish(ctx context.Context) (err error) {
	op := fmt.Sprintf("publish upload session %s of dataset %s", s.id, s.datasetID)
	ctx, span := startSpan(ctx, "publish", attribute.String("cubesync.dataset_id", s.datasetID), attribute.String("cubesync.session_id", s.id))
	polls := 0
	defer func() {
		span.SetAttributes(attribute.Int("cubesync.polls", polls))
		endSpan(span, err)
	}()
	if err := s.open(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	start := s.c.clock.Now()
	if _, err := s.c.do(ctx, call{op: op, method: http.MethodPost, path: sessionPath(s.datasetID, s.id) + "/publish"}); err != nil {
		return err
	}
	deadline := start.Add(s.c.cfg.PublishTimeout)
	delay := firstPoll
	for polls = 1; ; polls++ {
		if err := s.c.clock.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("%s: %w", op, context.Cause(ctx))
		}
		st, err := s.publishStatus(ctx)
		if err != nil {
			return err
		}
		if st.status == publishDone {
			s.mu.Lock()
			s.published = true
			s.mu.Unlock()
			s.c.log.Info("upload session published", "dataset_id", s.datasetID, "session_id", s.id,
				"polls", polls, "duration", s.c.clock.Now().Sub(start).Round(time.Millisecond))
			return nil
		}
		if st.status == publishError {
			return &PublishError{DatasetID: s.datasetID, SessionID: s.id, Status: st.status, Message: s.c.redact(oneLine(st.message))}
		}
		if now := s.c.clock.Now(); !now.Before(deadline) {
			return fmt.Errorf("%s: %w: still status %d %q after %v; raise the publish timeout, or ask the MicroStrategy administrator why the Intelligence Server is slow",
				op, ErrPublishTimeout, st.status, oneLine(st.message), now.Sub(start).Round(time.Second))
		}
		delay = min(delay*3/2, maxPoll)
	}
}

type publishState struct {
	status  int64
	message string
}

func (s *Session) publishStatus(ctx context.Context) (st publishState, err error) {
	op := fmt.Sprintf("publish status of upload session %s of dataset %s", s.id, s.datasetID)
	ctx, span := startSpan(ctx, "publish status")
	defer func() {
		if err == nil {
			span.SetAttributes(attribute.Int64("cubesync.publish_status", st.status))
		}
		endSpan(span, err)
	}()
	resp, err := s.c.do(ctx, call{op: op, method: http.MethodGet, path: sessionPath(s.datasetID, s.id) + "/publishStatus"})
	if err != nil {
		return publishState{}, err
	}
	var doc struct {
		Status  json.RawMessage `json:"status"`
		Message string          `json:"message"`
	}
	if err := json.Unmarshal(resp.body, &doc); err != nil {
		return publishState{}, fmt.Errorf("%s: the server's answer is not a publish status: %s", op, oneLine(string(resp.body)))
	}
	status, ok := parseStatus(doc.Status)
	if !ok {
		return publishState{}, fmt.Errorf("%s: the server's answer has no numeric status: %s", op, oneLine(string(resp.body)))
	}
	return publishState{status: status, message: doc.Message}, nil
}

// parseStatus reads a publish status given as a JSON number or a numeric string ("1").
func parseStatus(raw json.RawMessage) (int64, bool) {
	s := strings.TrimSpace(strings.Trim(strings.TrimSpace(string(raw)), `"`))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64) // 1.0
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// Cancel cancels the session (DELETE) so that nothing uploaded in it is published. It uses
// its own deadline (Config.CancelTimeout) from a fresh context, so it still goes out after
// the run's context has ended. Cancelling a published or already cancelled session does
// nothing; a session the server no longer knows counts as cancelled.
func (s *Session) Cancel() error {
	s.mu.Lock()
	done := s.published || s.cancelled
	s.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.CancelTimeout)
	defer cancel()
	if err := s.c.CancelSession(ctx, s.datasetID, s.id); err != nil {
		return err
	}
	s.mu.Lock()
	s.cancelled = true
	s.mu.Unlock()
	return nil
}
