// Package fetch downloads the public data sets cnnctl reads: each file is
// fetched into DIR/NAME.part, resumed with an HTTP Range request after a cut
// connection, checked against its published MD5 and only then renamed to
// DIR/NAME, so DIR never holds a partial or corrupt file under its real name.
package fetch

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File is one file of a data set and its published MD5.
type File struct {
	Name string
	MD5  string
}

// Dataset is a downloadable data set.
type Dataset struct {
	Name    string // cifar10, mnist, fashion-mnist: the data.Open kind
	BaseURL string // Files are fetched from BaseURL + Name
	Files   []File
}

// The official sources. The MD5s are those torchvision checks (CIFAR-10: the
// one the CIFAR-10 page publishes).
var datasets = []Dataset{
	{
		Name:    "cifar10",
		BaseURL: "https://www.cs.toronto.edu/~kriz/",
		Files:   []File{{"cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"}},
	},
	{
		Name:    "mnist",
		BaseURL: "https://ossci-datasets.s3.amazonaws.com/mnist/",
		Files: []File{
			{"train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
			{"train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"},
			{"t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"},
			{"t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"},
		},
	},
	{
		Name:    "fashion-mnist",
		BaseURL: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
		Files: []File{
			{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
			{"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"},
			{"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"},
			{"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"},
		},
	},
}

// Names lists the data sets Fetch knows.
func Names() []string {
	var names []string
	for _, d := range datasets {
		names = append(names, d.Name)
	}
	return names
}

// Lookup returns the data set called name.
func Lookup(name string) (Dataset, error) {
	for _, d := range datasets {
		if d.Name == name {
			d.Files = append([]File(nil), d.Files...)
			return d, nil
		}
	}
	return Dataset{}, fmt.Errorf("fetch: unknown data set %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// Progress reports a download's state: Done of Total bytes of File
// (Total -1 when the server does not say).
type Progress struct {
	File        string
	Done, Total int64
}

// Options controls a download. The zero value is usable.
type Options struct {
	// BaseURL replaces the data set's base URL (a mirror, or a test server).
	BaseURL string
	// Client does the requests; nil means a client with a 30 s header timeout.
	Client *http.Client
	// Progress, when set, is called as bytes arrive, from the calling goroutine.
	Progress func(Progress)
	// Retries is how many times a cut download is resumed; 0 means 5, < 0 none.
	Retries int
	// RetryWait is the pause before a retry; 0 means 1 s.
	RetryWait time.Duration
}

// Fetch downloads the data set called name into dir and returns the paths of
// its files and the data.Open spec that reads them.
func Fetch(ctx context.Context, name, dir string, o Options) (paths []string, spec string, err error) {
	d, err := Lookup(name)
	if err != nil {
		return nil, "", err
	}
	return d.Fetch(ctx, dir, o)
}

// Fetch downloads the data set's files into dir, skipping those already there
// with the right checksum.
func (d Dataset) Fetch(ctx context.Context, dir string, o Options) (paths []string, spec string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", d.Name, err)
	}
	base := d.BaseURL
	if o.BaseURL != "" {
		base = o.BaseURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	for _, f := range d.Files {
		dst := filepath.Join(dir, f.Name)
		if err := Download(ctx, base+f.Name, dst, f.MD5, o); err != nil {
			return paths, "", fmt.Errorf("fetch %s: %w", d.Name, err)
		}
		paths = append(paths, dst)
	}
	return paths, d.Name + ":" + dir, nil
}

// ErrChecksum is wrapped by the error of a download whose MD5 is wrong.
var ErrChecksum = errors.New("checksum mismatch")

// Download fetches url into dst, which appears only once complete and with
// the given MD5 (hex). The bytes go to dst.part first; a .part left by an
// earlier, cut run is resumed. An existing dst with the right MD5 is kept.
func Download(ctx context.Context, url, dst, wantMD5 string, o Options) error {
	wantMD5 = strings.ToLower(wantMD5)
	if sum, err := fileMD5(dst); err == nil && sum == wantMD5 {
		if st, err := os.Stat(dst); err == nil && o.Progress != nil {
			o.Progress(Progress{filepath.Base(dst), st.Size(), st.Size()})
		}
		return nil
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: 30 * time.Second,
			TLSHandshakeTimeout:   30 * time.Second,
		}}
	}
	retries := o.Retries
	if retries == 0 {
		retries = 5
	}
	wait := o.RetryWait
	if wait <= 0 {
		wait = time.Second
	}
	part := dst + ".part"
	// A failed download that got no byte leaves no empty .part (one with
	// bytes stays, for the next run to resume).
	dropEmpty := func() {
		if st, err := os.Stat(part); err == nil && st.Size() == 0 {
			os.Remove(part)
		}
	}
	for attempt := 0; ; attempt++ {
		err := getPart(ctx, client, url, part, filepath.Base(dst), o.Progress)
		if err == nil {
			break
		}
		var perm permanentError
		if errors.As(err, &perm) || ctx.Err() != nil || attempt >= retries {
			dropEmpty()
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			dropEmpty()
			return fmt.Errorf("%w (after: %v)", ctx.Err(), err)
		}
	}
	sum, err := fileMD5(part)
	if err != nil {
		return err
	}
	if sum != wantMD5 {
		os.Remove(part)
		return fmt.Errorf("%s: %w: md5 %s, want %s (the partial file is removed)", url, ErrChecksum, sum, wantMD5)
	}
	if err := os.Rename(part, dst); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

type permanentError struct{ error }

// getPart continues the download of url into part from its current size.
func getPart(ctx context.Context, client *http.Client, url, part, name string, progress func(Progress)) error {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return permanentError{err}
	}
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return permanentError{err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return permanentError{err}
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusOK: // the whole file: start over
		if off > 0 {
			if err := f.Truncate(0); err != nil {
				return permanentError{err}
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return permanentError{err}
			}
			off = 0
		}
		if resp.ContentLength >= 0 {
			total = resp.ContentLength
		}
	case http.StatusPartialContent:
		start, size, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != off {
			return fmt.Errorf("GET %s: asked for bytes from %d, got Content-Range %q", url, off, resp.Header.Get("Content-Range"))
		}
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		// The .part is already complete (or longer than the file: the
		// checksum says which).
		return nil
	default:
		err := fmt.Errorf("GET %s: %s", url, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return err
		}
		return permanentError{err}
	}
	buf := make([]byte, 256<<10)
	done := off
	if progress != nil {
		progress(Progress{name, done, total})
	}
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return permanentError{err}
			}
			done += int64(n)
			if progress != nil {
				progress(Progress{name, done, total})
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("GET %s: cut at byte %d: %w", url, done, rerr)
		}
	}
	if total >= 0 && done != total {
		return fmt.Errorf("GET %s: got %d of %d bytes", url, done, total)
	}
	return f.Sync()
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be *: -1).
func parseContentRange(s string) (start, size int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	rng, sz, ok := strings.Cut(rest, "/")
	first, _, ok2 := strings.Cut(rng, "-")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, err
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil {
			return 0, 0, err
		}
	}
	return start, size, nil
}

func fileMD5(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
