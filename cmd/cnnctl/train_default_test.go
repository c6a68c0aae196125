package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cnnctl/cnnctl/internal/fetch"
)

// fakeCIFAR10 is a small cifar-10-binary.tar.gz: 4 records in each of the
// five training batches, 3 in the test batch.
func fakeCIFAR10(t *testing.T) []byte {
	t.Helper()
	records := func(n, seed int) []byte {
		b := make([]byte, n*3073)
		for i := range n {
			b[i*3073] = byte(i % 10)
			for j := 1; j < 3073; j++ {
				b[i*3073+j] = byte(j*13 + i*7 + seed)
			}
		}
		return b
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/" + name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	for i, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"} {
		add(name, records(4, i))
	}
	add("test_batch.bin", records(3, 9))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// trainDefault runs train with no --data, CIFAR-10 coming from src.
func trainDefault(t *testing.T, src fetch.Dataset, out string) (stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	f := newFactory(strings.NewReader(""), &o, &e)
	cmd := newTrainCmd(f, func(opts *trainOptions) error {
		opts.source = &src
		opts.fetchOpts = fetch.Options{Retries: -1}
		return runTrain(opts)
	})
	cmd.SetArgs([]string{"--model", "lenet", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--workers", "1", "--out", out, "-q"})
	cmd.SetOut(&o)
	cmd.SetErr(&e)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	return e.String(), err
}

// TestTrainDefaultData: with no --data, lenet (3-channel) trains on CIFAR-10
// fetched once into the user cache directory from the source (here a
// loopback server with a fake tarball, never the internet), MD5-checked;
// a second run uses the cached copy without the network; offline with
// nothing cached, one line says how to point --data at a local copy.
func TestTrainDefaultData(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	tarball := fakeCIFAR10(t)
	sum := md5.Sum(tarball)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/cifar-10-binary.tar.gz" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "cifar-10-binary.tar.gz", time.Time{}, bytes.NewReader(tarball))
	}))
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", srv.URL)
	}
	src := fetch.Dataset{Name: "cifar10", BaseURL: srv.URL + "/", Files: []fetch.File{{Name: "cifar-10-binary.tar.gz", MD5: hex.EncodeToString(sum[:])}}}
	dir := filepath.Join(cache, "cnnctl", "cifar10")

	// First run: downloaded once, then trained on.
	out := filepath.Join(t.TempDir(), "run")
	stderr, err := trainDefault(t, src, out)
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "cifar-10-binary.tar.gz")); err != nil || !bytes.Equal(got, tarball) {
		t.Fatalf("cached tarball: %v (%d bytes, want %d)", err, len(got), len(tarball))
	}
	if requests.Load() != 1 || !strings.Contains(stderr, "downloading CIFAR-10 once into "+dir) {
		t.Errorf("first run: %d requests, stderr %q; want 1 and the download announced", requests.Load(), stderr)
	}
	if ck := mustLoad(t, filepath.Join(out, "last")); ck.Data != "cifar10:"+dir || ck.Input[0] != 3 || len(ck.Classes) != 10 {
		t.Errorf("checkpoint data %q input %v classes %v, want cifar10:%s, 3 channels, 10 classes", ck.Data, ck.Input, ck.Classes, dir)
	}

	// Second run, offline: the cached copy, no request.
	srv.Close()
	stderr, err = trainDefault(t, src, filepath.Join(t.TempDir(), "run2"))
	if err != nil {
		t.Fatalf("cached run: %v\n%s", err, stderr)
	}
	if requests.Load() != 1 || !strings.Contains(stderr, "CIFAR-10 from "+dir) {
		t.Errorf("cached run: %d requests in all, stderr %q; want no new request", requests.Load(), stderr)
	}

	// Offline with nothing cached: one line on how to proceed, no output folder.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out3 := filepath.Join(t.TempDir(), "run3")
	_, err = trainDefault(t, src, out3)
	if err == nil {
		t.Fatal("offline run with an empty cache succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"127.0.0.1", "offline? put cifar-10-binary.tar.gz", "--data cifar10:PATH"} {
		if !strings.Contains(msg, want) {
			t.Errorf("offline error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("offline error is not one line: %q", msg)
	}
	if _, err := os.Stat(out3); !os.IsNotExist(err) {
		t.Errorf("offline run left %s (%v)", out3, err)
	}
}
