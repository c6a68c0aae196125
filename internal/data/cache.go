package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The imagefolder cache is one file per source:
//
//	magic "CNNCTLIF", version uint32 LE, header length uint32 LE, JSON header,
//	then per split: labels (N int32 LE), pixels (N*C*H*W uint8),
//	then (since version 2) the CRC-32C of everything before it, uint32 LE.
//
// Its name holds a hash of the source path, the SkipBadImages flag and the
// size and mtime of the tarball or of every image file, so that a changed
// source misses the cache. It is written to a temporary file named after
// the writing process (NAME.tmp-PID-*) and renamed; temporaries of
// processes that no longer run (a killed build) are removed on the next
// open.
const (
	cacheMagic   = "CNNCTLIF"
	cacheVersion = 2
	// maxCacheSide bounds C, H and W in a cache header, so that no size
	// product can overflow.
	maxCacheSide = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type cacheHeader struct {
	Classes []string
	Skipped []string
	Splits  []cacheSplit
}

type cacheSplit struct {
	Name       string
	N, C, H, W int
}

// DefaultCacheDir is the folder cnnctl caches into when Options.CacheDir is
// empty: $XDG_CACHE_HOME/cnnctl, else the user cache directory
// (os.UserCacheDir)/cnnctl. Decoded imagefolders live there, and train's
// default CIFAR-10 download under cifar10/.
func DefaultCacheDir() (string, error) {
	return cacheDir(Options{})
}

func cacheDir(opts Options) (string, error) {
	if opts.CacheDir != "" {
		return opts.CacheDir, nil
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "cnnctl"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "cnnctl"), nil
}

func cacheKey(p string, opts Options, stats func(io.Writer) error) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "cnnctl imagefolder cache v%d\n%s\nskip=%v\n", cacheVersion, abs, opts.SkipBadImages)
	if err := stats(h); err != nil {
		return "", fmt.Errorf("imagefolder %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

func writeCache(p string, d *Dataset) error {
	hdr := cacheHeader{Classes: d.Classes, Skipped: d.Skipped}
	splits := []*Split{d.Train}
	hdr.Splits = append(hdr.Splits, cacheSplit{"train", d.Train.N, d.Train.C, d.Train.H, d.Train.W})
	if d.Test != nil {
		splits = append(splits, d.Test)
		hdr.Splits = append(hdr.Splits, cacheSplit{"test", d.Test.N, d.Test.C, d.Test.H, d.Test.W})
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), fmt.Sprintf("%s.tmp-%d-*", filepath.Base(p), os.Getpid()))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	var pre [16]byte
	copy(pre[:8], cacheMagic)
	binary.LittleEndian.PutUint32(pre[8:], cacheVersion)
	binary.LittleEndian.PutUint32(pre[12:], uint32(len(js)))
	sum := crc32.New(castagnoli)
	w := io.MultiWriter(f, sum)
	werr := func() error {
		if _, err := w.Write(pre[:]); err != nil {
			return err
		}
		if _, err := w.Write(js); err != nil {
			return err
		}
		for _, s := range splits {
			lb := make([]byte, 4*s.N)
			for i, l := range s.Labels {
				binary.LittleEndian.PutUint32(lb[4*i:], uint32(l))
			}
			if _, err := w.Write(lb); err != nil {
				return err
			}
			if _, err := w.Write(s.Pixels); err != nil {
				return err
			}
		}
		if _, err := f.Write(binary.LittleEndian.AppendUint32(nil, sum.Sum32())); err != nil {
			return err
		}
		return f.Sync()
	}()
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	return os.Rename(f.Name(), p)
}

func readCache(p string) (*Dataset, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	bad := func(what string) error { return fmt.Errorf("cache %s: %s", p, what) }
	if len(b) < 16 || !bytes.Equal(b[:8], []byte(cacheMagic)) {
		return nil, bad("wrong magic")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != cacheVersion {
		return nil, bad(fmt.Sprintf("version %d, want %d", v, cacheVersion))
	}
	if len(b) < 20 {
		return nil, bad("truncated")
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, bad(fmt.Sprintf("checksum %08x does not match the recorded %08x: the file is corrupt", got, want))
	}
	b = body
	hl := uint64(binary.LittleEndian.Uint32(b[12:]))
	if uint64(len(b)-16) < hl {
		return nil, bad("truncated header")
	}
	var hdr cacheHeader
	if err := json.Unmarshal(b[16:16+hl], &hdr); err != nil {
		return nil, bad(err.Error())
	}
	if len(hdr.Splits) == 0 || len(hdr.Classes) == 0 {
		return nil, bad("no splits or classes")
	}
	d := &Dataset{Classes: hdr.Classes, Skipped: hdr.Skipped}
	off := 16 + hl
	for _, cs := range hdr.Splits {
		if cs.N < 0 || cs.C <= 0 || cs.H <= 0 || cs.W <= 0 || cs.C > maxCacheSide || cs.H > maxCacheSide || cs.W > maxCacheSide || cs.N > 1<<40 {
			return nil, bad("bad split shape")
		}
		need := uint64(cs.N)*4 + uint64(cs.N)*uint64(cs.C*cs.H*cs.W)
		if uint64(len(b))-off < need {
			return nil, bad("truncated")
		}
		s := &Split{N: cs.N, C: cs.C, H: cs.H, W: cs.W, Labels: make([]int32, cs.N)}
		for i := range s.Labels {
			s.Labels[i] = int32(binary.LittleEndian.Uint32(b[off+4*uint64(i):]))
		}
		off += 4 * uint64(cs.N)
		npix := uint64(cs.N) * uint64(cs.C*cs.H*cs.W)
		s.Pixels = b[off : off+npix : off+npix]
		off += npix
		if err := s.validate(len(hdr.Classes)); err != nil {
			return nil, bad(err.Error())
		}
		switch cs.Name {
		case "train":
			d.Train = s
		case "test":
			d.Test = s
		default:
			return nil, bad("unknown split " + cs.Name)
		}
	}
	if off != uint64(len(b)) {
		return nil, bad("trailing bytes")
	}
	if d.Train == nil {
		return nil, errors.New("cache " + p + ": no train split")
	}
	return d, nil
}

// removeStaleTemps deletes temporary cache files whose writer no longer
// runs (killed during a build): NAME.tmp-PID-* with a dead PID, and the
// older unnamed NAME.tmp* a day after they were last written. It returns
// a note per file removed.
func removeStaleTemps(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "imagefolder-*.bin.tmp*"))
	var notes []string
	for _, n := range names {
		fi, err := os.Stat(n)
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(filepath.Base(n), ".bin.tmp")
		stale := time.Since(fi.ModTime()) > 24*time.Hour
		if pidText, _, ok := strings.Cut(strings.TrimPrefix(rest, "-"), "-"); ok && strings.HasPrefix(rest, "-") {
			if pid, err := strconv.Atoi(pidText); err == nil {
				stale = pid != os.Getpid() && !processAlive(pid)
			}
		}
		if stale && os.Remove(n) == nil {
			notes = append(notes, fmt.Sprintf("removed %s (%.0f MB), left by an image cache build that was killed", n, float64(fi.Size())/1e6))
		}
	}
	return notes
}
