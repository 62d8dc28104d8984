// Package chdb is a minimal binding to libchdb, the ClickHouse engine as a
// shared library. It loads the library lazily with dlopen (purego, no cgo),
// so a phiwatch binary without libchdb still starts and runs against a
// ClickHouse server; only opening an embedded store needs the library.
package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Version is the libchdb release phiwatch is built and tested against.
const Version = "26.7.3-stable.1"

// ErrLibraryMissing is returned when no libchdb could be found or loaded.
var ErrLibraryMissing = errors.New("libchdb not found")

type api struct {
	connect       func(argc int, argv []*byte) unsafe.Pointer
	closeConn     func(conn unsafe.Pointer)
	query         func(conn unsafe.Pointer, query string, format string) unsafe.Pointer
	streamInsert  func(conn unsafe.Pointer, query string, format string) unsafe.Pointer
	streamAppend  func(stream unsafe.Pointer, data *byte, n uintptr) int32
	streamDone    func(stream unsafe.Pointer) unsafe.Pointer
	streamError   func(stream unsafe.Pointer) *byte
	streamCancel  func(stream unsafe.Pointer)
	streamDestroy func(stream unsafe.Pointer)
	destroyResult func(res unsafe.Pointer)
	resultBuffer  func(res unsafe.Pointer) *byte
	resultLength  func(res unsafe.Pointer) uintptr
	resultError   func(res unsafe.Pointer) *byte
	rowsRead      func(res unsafe.Pointer) uint64
}

// The library can be loaded once per process; dlopen itself is global, so
// this is the one place where process-wide state is unavoidable.
var (
	loadOnce sync.Once
	loaded   *api
	loadErr  error
)

// CandidatePaths lists where libchdb is looked for, in order: the explicit
// path, CHDB_LIB_PATH, phiwatch's cache (filled by `make libchdb`), and the
// system location chDB's installer uses.
func CandidatePaths(explicit string) []string {
	var paths []string
	if explicit != "" {
		paths = append(paths, explicit)
	}
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		paths = append(paths, p)
	}
	paths = append(paths, filepath.Join(CacheDir(), Version, "libchdb.so"))
	paths = append(paths, "/usr/local/lib/libchdb.so")
	return paths
}

// CacheDir is where `make libchdb` (deploy/chdb/fetch-libchdb.sh) puts the
// library: $PHIWATCH_CACHE/chdb or ~/.cache/phiwatch/chdb.
func CacheDir() string {
	if c := os.Getenv("PHIWATCH_CACHE"); c != "" {
		return filepath.Join(c, "chdb")
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "phiwatch", "chdb")
	}
	return filepath.Join(os.TempDir(), "phiwatch-cache", "chdb")
}

func load(explicit string) (*api, error) {
	loadOnce.Do(func() {
		var tried []string
		for _, p := range CandidatePaths(explicit) {
			if _, err := os.Stat(p); err != nil {
				tried = append(tried, p)
				continue
			}
			h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err != nil {
				loadErr = fmt.Errorf("load libchdb from %s: %w", p, err)
				return
			}
			a := &api{}
			purego.RegisterLibFunc(&a.connect, h, "chdb_connect")
			purego.RegisterLibFunc(&a.closeConn, h, "chdb_close_conn")
			purego.RegisterLibFunc(&a.query, h, "chdb_query")
			purego.RegisterLibFunc(&a.streamInsert, h, "chdb_stream_insert")
			purego.RegisterLibFunc(&a.streamAppend, h, "chdb_stream_append")
			purego.RegisterLibFunc(&a.streamDone, h, "chdb_stream_done")
			purego.RegisterLibFunc(&a.streamError, h, "chdb_stream_insert_error")
			purego.RegisterLibFunc(&a.streamCancel, h, "chdb_stream_cancel_insert")
			purego.RegisterLibFunc(&a.streamDestroy, h, "chdb_destroy_insert_stream")
			purego.RegisterLibFunc(&a.destroyResult, h, "chdb_destroy_query_result")
			purego.RegisterLibFunc(&a.resultBuffer, h, "chdb_result_buffer")
			purego.RegisterLibFunc(&a.resultLength, h, "chdb_result_length")
			purego.RegisterLibFunc(&a.resultError, h, "chdb_result_error")
			purego.RegisterLibFunc(&a.rowsRead, h, "chdb_result_rows_read")
			loaded = a
			return
		}
		loadErr = fmt.Errorf("%w (looked in %v): run `make libchdb` to fetch libchdb %s into %s, "+
			"set CHDB_LIB_PATH to an existing libchdb.so, or use a ClickHouse server with --store=clickhouse://host:9000",
			ErrLibraryMissing, tried, Version, CacheDir())
	})
	return loaded, loadErr
}

// Available reports whether libchdb can be loaded, and why not.
func Available(explicit string) error {
	_, err := load(explicit)
	return err
}

// Conn is one chDB connection to a data directory. chDB allows a single
// data directory per process. Queries on one Conn are serialised: session
// settings (query parameters) are connection-wide, so concurrent callers
// would otherwise see each other's parameters.
type Conn struct {
	api  *api
	mu   sync.Mutex
	conn unsafe.Pointer // chdb_connection* (pointer to the handle)
	path string
}

// Open starts the embedded engine on the data directory path.
func Open(libPath, path string) (*Conn, error) {
	a, err := load(libPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("create chDB data directory %s: %w", path, err)
	}
	args := []string{"clickhouse", "--path=" + path}
	argv := make([]*byte, len(args))
	keep := make([][]byte, len(args))
	for i, s := range args {
		keep[i] = append([]byte(s), 0)
		argv[i] = &keep[i][0]
	}
	c := a.connect(len(argv), argv)
	if c == nil {
		return nil, fmt.Errorf("chDB could not open data directory %s (is another process using it?)", path)
	}
	return &Conn{api: a, conn: c, path: path}, nil
}

// Path is the data directory.
func (c *Conn) Path() string { return c.path }

// Query runs one or more SQL statements and returns the output of the last
// one in the given ClickHouse output format (e.g. JSONEachRow).
func (c *Conn) Query(sql, format string) ([]byte, error) {
	return c.run(func(h unsafe.Pointer) unsafe.Pointer { return c.api.query(h, sql, format) })
}

// Insert runs an INSERT statement (without FORMAT or data, e.g. "INSERT
// INTO db.t (a, b)") and streams data to it in the given input format. Data
// goes through chDB's insert-stream API, not inline in the query text, which
// would split binary formats at byte sequences that look like query ends.
func (c *Conn) Insert(query, format string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return errors.New("chDB connection is closed")
	}
	st := c.api.streamInsert(*(*unsafe.Pointer)(c.conn), query, format)
	if st == nil {
		return errors.New("chDB could not start the insert")
	}
	defer c.api.streamDestroy(st)
	if msg := cString(c.api.streamError(st)); msg != "" {
		return errors.New(msg)
	}
	// Append in chunks so the engine can parse while data is still coming.
	const chunk = 4 << 20
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		if c.api.streamAppend(st, &data[off], uintptr(end-off)) != 0 {
			msg := cString(c.api.streamError(st))
			c.api.streamCancel(st)
			if msg == "" {
				msg = "append failed"
			}
			return errors.New(msg)
		}
	}
	res := c.api.streamDone(st)
	if res == nil {
		return errors.New("chDB insert ended without a result")
	}
	defer c.api.destroyResult(res)
	if msg := cString(c.api.resultError(res)); msg != "" {
		return errors.New(msg)
	}
	return nil
}

func (c *Conn) run(call func(handle unsafe.Pointer) unsafe.Pointer) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil, errors.New("chDB connection is closed")
	}
	// The query functions take the connection handle, not the pointer to it.
	res := call(*(*unsafe.Pointer)(c.conn))
	if res == nil {
		return nil, nil
	}
	defer c.api.destroyResult(res)
	if e := c.api.resultError(res); e != nil {
		if msg := cString(e); msg != "" {
			return nil, errors.New(msg)
		}
	}
	n := int(c.api.resultLength(res))
	buf := c.api.resultBuffer(res)
	if n == 0 || buf == nil {
		return nil, nil
	}
	out := make([]byte, n)
	copy(out, unsafe.Slice(buf, n))
	return out, nil
}

// Close shuts the connection; the data directory stays.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.api.closeConn(c.conn)
		c.conn = nil
	}
	return nil
}

func cString(p *byte) string {
	if p == nil {
		return ""
	}
	var n int
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}
