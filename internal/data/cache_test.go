package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCacheFlippedByte: one flipped pixel in the cache is caught by its
// checksum; the folder is decoded again (it used to be read as is).
func TestCacheFlippedByte(t *testing.T) {
	root, cache, first := cachedFolder(t, 3)
	b, err := os.ReadFile(first.Cache)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 0x01 // a pixel of the last image
	writeFile(t, first.Cache, b)
	again, err := Open("imagefolder:"+root, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if again.Decoded != 6 || len(again.Warnings) != 1 || !strings.Contains(again.Warnings[0], "checksum") || !strings.Contains(again.Warnings[0], "corrupt") {
		t.Fatalf("flipped byte: decoded %d, warnings %q", again.Decoded, again.Warnings)
	}
	if !bytes.Equal(again.Train.Pixels, first.Train.Pixels) {
		t.Error("pixels differ after the rebuild")
	}
	if third, err := Open("imagefolder:"+root, Options{CacheDir: cache}); err != nil || third.Decoded != 0 {
		t.Errorf("the rewritten cache is not used: %v", err)
	}
}

// cachedFolder writes a folder of two classes of per images and opens it
// once through a new cache folder.
func cachedFolder(t *testing.T, per int) (root, cache string, d *Dataset) {
	t.Helper()
	root, cache = filepath.Join(t.TempDir(), "imgs"), t.TempDir()
	writeFolder(t, root, []string{"x", "y"}, per)
	d, err := Open("imagefolder:"+root, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	return root, cache, d
}

// TestCacheStaleTemps: a temporary file of a cache build whose process is
// gone (killed) is removed on the next open, with a note; those of live
// processes are left alone.
func TestCacheStaleTemps(t *testing.T) {
	root := filepath.Join(t.TempDir(), "imgs")
	cache := t.TempDir()
	writeFolder(t, root, []string{"x", "y"}, 2)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no 'true' to get a dead pid:", err)
	}
	deadTemp := filepath.Join(cache, "imagefolder-0123.bin.tmp-"+strconv.Itoa(dead.Process.Pid)+"-42")
	liveTemp := filepath.Join(cache, "imagefolder-0123.bin.tmp-"+strconv.Itoa(os.Getppid())+"-43")
	writeFile(t, deadTemp, make([]byte, 1000))
	writeFile(t, liveTemp, make([]byte, 1000))
	d, err := Open("imagefolder:"+root, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(deadTemp); !os.IsNotExist(err) {
		t.Errorf("the dead build's temporary file is still there: %v", err)
	}
	if _, err := os.Stat(liveTemp); err != nil {
		t.Errorf("a live process's temporary file was removed: %v", err)
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "removed "+deadTemp) || !strings.Contains(d.Warnings[0], "killed") {
		t.Errorf("warnings %q", d.Warnings)
	}
}

// FuzzCache: readCache never panics on any file, and what it accepts is
// written back and read again unchanged. The fuzzed bytes get a matching
// checksum appended, so that the parser behind it is reached.
func FuzzCache(f *testing.F) {
	dir := f.TempDir()
	d := &Dataset{Classes: []string{"a", "b"}, Train: &Split{N: 2, C: 1, H: 2, W: 2, Labels: []int32{0, 1}, Pixels: []uint8{1, 2, 3, 4, 5, 6, 7, 8}}}
	d.Test = &Split{N: 1, C: 1, H: 2, W: 2, Labels: []int32{1}, Pixels: []uint8{9, 9, 9, 9}}
	good := filepath.Join(dir, "good")
	if err := writeCache(good, d); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:len(b)-4])
	f.Add(b[:20])
	f.Add([]byte("CNNCTLIF\x02\x00\x00\x00\xff\xff\xff\xff{}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p := filepath.Join(dir, "in")
		sum := binary.LittleEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli))
		if err := os.WriteFile(p, append(append([]byte{}, body...), sum...), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readCache(p)
		if err != nil {
			return
		}
		out := filepath.Join(dir, "out")
		if err := writeCache(out, got); err != nil {
			t.Fatalf("an accepted cache does not write back: %v", err)
		}
		again, err := readCache(out)
		if err != nil {
			t.Fatalf("an accepted cache, written back, does not read: %v", err)
		}
		if strings.Join(again.Classes, ",") != strings.Join(got.Classes, ",") || again.Train.N != got.Train.N || !bytes.Equal(again.Train.Pixels, got.Train.Pixels) {
			t.Fatal("round trip changed the cache")
		}
	})
}
