package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCacheBuildKilled kills a real 'cnnctl data info' with SIGKILL while
// it writes its image cache (the temporary file exists): the next run
// removes that file, says so, and builds a good cache.
func TestCacheBuildKilled(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "imgs")
	img := pngOf(t, 128, 128) // 300 images: a 15 MB cache
	for i := range 300 {
		write(t, filepath.Join(data, []string{"a", "b"}[i%2], itoa(i)+".png"), img)
	}
	cacheHome := filepath.Join(dir, "cache")
	cacheDir := filepath.Join(cacheHome, "cnnctl")
	env := append(os.Environ(), "XDG_CACHE_HOME="+cacheHome)
	var temp string
	for try := 1; temp == "" && try <= 5; try++ {
		os.RemoveAll(cacheHome)
		cmd := exec.Command(bin, "data", "info", "imagefolder:"+data)
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
	poll:
		for {
			select {
			case <-done:
				t.Logf("try %d: the cache was written before a kill", try)
				break poll
			default:
			}
			if names, _ := filepath.Glob(filepath.Join(cacheDir, "*.tmp-*")); len(names) > 0 {
				cmd.Process.Kill()
				<-done
				temp = names[0]
				break poll
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	if temp == "" {
		t.Fatal("never caught the cache build in the act in 5 tries")
	}
	if _, err := os.Stat(temp); err != nil {
		t.Fatalf("the killed build left no temporary file to clean: %v", err)
	}
	cmd := exec.Command(bin, "data", "info", "imagefolder:"+data)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("data info after the kill: exit %d\n%s", code, stderr.String())
	}
	mustContain(t, "data info after the kill", stderr.String(), "removed "+temp, "killed")
	names, _ := filepath.Glob(filepath.Join(cacheDir, "*"))
	if len(names) != 1 || strings.Contains(names[0], ".tmp") {
		t.Errorf("cache folder after the rebuild: %v, want the one cache file", names)
	}
}
