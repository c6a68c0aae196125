package fetch

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server serves files at /NAME with Range support; the first cutFirst
// requests of each file are cut after cutAt bytes.
type server struct {
	*httptest.Server
	files    map[string][]byte
	cutAt    int
	cutFirst int
	noRange  bool

	mu       sync.Mutex
	requests []string // "NAME RANGE"
}

func newServer(t *testing.T, files map[string][]byte) *server {
	s := &server{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	s.requests = append(s.requests, name+" "+r.Header.Get("Range"))
	n := 0
	for _, q := range s.requests {
		if strings.HasPrefix(q, name+" ") {
			n++
		}
	}
	s.mu.Unlock()
	b, ok := s.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if n <= s.cutFirst {
		// Promise the whole file, send cutAt bytes, drop the connection.
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:s.cutAt])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if s.noRange {
		r.Header.Del("Range")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func (s *server) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func payload(n int) ([]byte, string) {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s := md5.Sum(b)
	return b, hex.EncodeToString(s[:])
}

var fast = Options{RetryWait: time.Millisecond}

func TestDownload(t *testing.T) {
	b, sum := payload(300_000)
	srv := newServer(t, map[string][]byte{"f.bin": b})
	dst := filepath.Join(t.TempDir(), "f.bin")
	var last Progress
	calls := 0
	o := fast
	o.Progress = func(p Progress) {
		if p.Done < last.Done {
			t.Errorf("progress went back from %d to %d", last.Done, p.Done)
		}
		last = p
		calls++
	}
	if err := Download(context.Background(), srv.URL+"/f.bin", dst, sum, o); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, b) {
		t.Fatal("downloaded bytes differ")
	}
	if last.Done != 300_000 || last.Total != 300_000 || last.File != "f.bin" || calls < 2 {
		t.Errorf("last progress %+v after %d calls", last, calls)
	}
	if _, err := os.Stat(dst + ".part"); !os.IsNotExist(err) {
		t.Error(".part left behind")
	}
	// Present with the right checksum: no request.
	if err := Download(context.Background(), srv.URL+"/f.bin", dst, sum, fast); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.log()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestChecksumMismatch(t *testing.T) {
	b, _ := payload(5000)
	srv := newServer(t, map[string][]byte{"f.bin": b})
	dst := filepath.Join(t.TempDir(), "f.bin")
	err := Download(context.Background(), srv.URL+"/f.bin", dst, "00000000000000000000000000000000", fast)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "want 00000000000000000000000000000000") {
		t.Fatalf("error %v", err)
	}
	for _, p := range []string{dst, dst + ".part"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a checksum mismatch", p)
		}
	}
}

func TestResumeAfterCut(t *testing.T) {
	b, sum := payload(200_000)
	t.Run("retry within one call", func(t *testing.T) {
		srv := newServer(t, map[string][]byte{"f.bin": b})
		srv.cutAt, srv.cutFirst = 70_000, 1
		dst := filepath.Join(t.TempDir(), "f.bin")
		if err := Download(context.Background(), srv.URL+"/f.bin", dst, sum, fast); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(dst)
		log := srv.log()
		if !bytes.Equal(got, b) || len(log) != 2 || log[1] != "f.bin bytes=70000-" {
			t.Errorf("requests %q, equal %v", log, bytes.Equal(got, b))
		}
	})
	t.Run("across calls, atomic", func(t *testing.T) {
		srv := newServer(t, map[string][]byte{"f.bin": b})
		srv.cutAt, srv.cutFirst = 50_000, 1
		dst := filepath.Join(t.TempDir(), "f.bin")
		o := fast
		o.Retries = -1
		err := Download(context.Background(), srv.URL+"/f.bin", dst, sum, o)
		if err == nil || !strings.Contains(err.Error(), "cut at byte 50000") {
			t.Fatalf("error %v, want a cut", err)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Fatal("the destination exists after a cut download")
		}
		if st, err := os.Stat(dst + ".part"); err != nil || st.Size() != 50_000 {
			t.Fatalf(".part: %v", err)
		}
		if err := Download(context.Background(), srv.URL+"/f.bin", dst, sum, o); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(dst)
		if log := srv.log(); !bytes.Equal(got, b) || log[1] != "f.bin bytes=50000-" {
			t.Errorf("requests %q", log)
		}
	})
	t.Run("server ignores Range", func(t *testing.T) {
		srv := newServer(t, map[string][]byte{"f.bin": b})
		srv.cutAt, srv.cutFirst, srv.noRange = 30_000, 1, true
		dst := filepath.Join(t.TempDir(), "f.bin")
		if err := Download(context.Background(), srv.URL+"/f.bin", dst, sum, fast); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, b) {
			t.Error("bytes differ after a restart from 0")
		}
	})
	t.Run("complete part", func(t *testing.T) {
		srv := newServer(t, map[string][]byte{"f.bin": b})
		dst := filepath.Join(t.TempDir(), "f.bin")
		os.WriteFile(dst+".part", b, 0o644)
		if err := Download(context.Background(), srv.URL+"/f.bin", dst, sum, fast); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, b) {
			t.Error("bytes differ")
		}
	})
}

func TestNotFound(t *testing.T) {
	srv := newServer(t, map[string][]byte{})
	err := Download(context.Background(), srv.URL+"/nope", filepath.Join(t.TempDir(), "x"), "00", fast)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("error %v", err)
	}
	if n := len(srv.log()); n != 1 {
		t.Errorf("%d requests for a 404, want 1 (no retries)", n)
	}
}

func TestFetchDataset(t *testing.T) {
	a, suma := payload(1000)
	b, sumb := payload(2000)
	srv := newServer(t, map[string][]byte{"a.gz": a, "b.gz": b})
	d := Dataset{Name: "mnist", BaseURL: "http://unused.invalid/", Files: []File{{"a.gz", suma}, {"b.gz", sumb}}}
	dir := filepath.Join(t.TempDir(), "mnist")
	o := fast
	o.BaseURL = srv.URL
	paths, spec, err := d.Fetch(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 || spec != "mnist:"+dir {
		t.Errorf("paths %v spec %q", paths, spec)
	}
	// The real table: a server with the wrong bytes fails on the checksum.
	_, _, err = Fetch(context.Background(), "fashion-mnist", t.TempDir(), Options{BaseURL: srv.URL + "/", Retries: -1})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("error %v", err)
	}
	srv.files["train-images-idx3-ubyte.gz"] = a
	_, _, err = Fetch(context.Background(), "mnist", t.TempDir(), Options{BaseURL: srv.URL})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "want f68b3c2dcbeaaa9fbdd348bbdeb94873") {
		t.Errorf("error %v", err)
	}
	if _, err := Lookup("cifar100"); err == nil || !strings.Contains(err.Error(), "cifar10, mnist, fashion-mnist") {
		t.Errorf("lookup error %v", err)
	}
}

func TestTable(t *testing.T) {
	for _, name := range Names() {
		d, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range d.Files {
			if len(f.MD5) != 32 || strings.ToLower(f.MD5) != f.MD5 {
				t.Errorf("%s %s: md5 %q", name, f.Name, f.MD5)
			}
		}
	}
}

// TestDownloadOfflineLeavesNoPart: a download that cannot connect at all
// leaves no empty .part file behind (it used to leave a 0-byte one).
func TestDownloadOfflineLeavesNoPart(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/f.bin"
	srv.Close() // connection refused from now on
	dst := filepath.Join(t.TempDir(), "f.bin")
	err := Download(context.Background(), url, dst, "00000000000000000000000000000000", Options{Retries: 1, RetryWait: time.Millisecond})
	if err == nil {
		t.Fatal("a download from a closed server succeeded")
	}
	if _, err := os.Stat(dst + ".part"); !os.IsNotExist(err) {
		t.Errorf("an empty .part is left behind: %v", err)
	}
}
