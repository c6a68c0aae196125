package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/fetch"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// defaultDataName is the data set train uses when --data is not given and
// the model takes 3-channel images: CIFAR-10, as the tutorial's code
// downloads it on first use.
const defaultDataName = "cifar10"

// takesDefaultData reports whether a model trains on CIFAR-10 when no
// --data is given: its file declares a 3-channel input.
func takesDefaultData(spec *zoo.Spec) bool {
	return len(spec.Input) == 3 && spec.Input[0] == 3
}

// defaultDataDir is where the default data set is kept: the user cache
// directory's cnnctl/cifar10.
func defaultDataDir() (string, error) {
	dir, err := data.DefaultCacheDir()
	if err != nil {
		return "", fmt.Errorf("no --data given, and no user cache directory to keep CIFAR-10 in (%v): give --data cifar10:PATH", err)
	}
	return filepath.Join(dir, defaultDataName), nil
}

// fetchDefaultData makes sure CIFAR-10 is in the user cache directory,
// downloading it once from the official URL (MD5-checked, resumable, with
// progress on stderr), and returns its --data spec. Offline, the error says
// in one line how to use a local copy instead. o.source and o.fetchOpts,
// when set, replace the official source (tests: a loopback server).
func fetchDefaultData(o *trainOptions) (string, error) {
	src := o.source
	if src == nil {
		d, err := fetch.Lookup(defaultDataName)
		if err != nil {
			return "", err
		}
		src = &d
	}
	dir, err := defaultDataDir()
	if err != nil {
		return "", err
	}
	log := o.f.ErrOut
	have := true
	for _, f := range src.Files {
		if _, err := os.Stat(filepath.Join(dir, f.Name)); err != nil {
			have = false
		}
	}
	if have {
		fmt.Fprintf(log, "data: no --data given: CIFAR-10 from %s\n", dir)
	} else {
		fmt.Fprintf(log, "data: no --data given: downloading CIFAR-10 once into %s from %s\n", dir, src.BaseURL)
	}
	ctx, stop := signalContext()
	defer stop()
	opts := o.fetchOpts
	opts.Progress = fetchProgress(o.f)
	_, spec, err := src.Fetch(ctx, dir, opts)
	if o.f.ErrIsTerminal && !have {
		fmt.Fprintln(log)
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("%w: the download stopped; run the same command again to resume it", errInterrupted)
	}
	if err != nil {
		return "", fmt.Errorf("%v; offline? put cifar-10-binary.tar.gz (from %s) into %s, or point --data at a local copy: --data cifar10:PATH or imagefolder:DIR", err, src.BaseURL, dir)
	}
	return spec, nil
}

// inputDesc names a model's declared input shape, or says it has none.
func inputDesc(spec *zoo.Spec) string {
	if len(spec.Input) == 0 {
		return "not declared"
	}
	dims := make([]string, len(spec.Input))
	for i, d := range spec.Input {
		dims[i] = strconv.Itoa(d)
	}
	return strings.Join(dims, "x")
}
