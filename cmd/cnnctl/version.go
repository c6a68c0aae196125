package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/cnnctl/cnnctl/internal/gpu"

	"github.com/spf13/cobra"
)

// version and commit are set at link time by the Makefile (-X main.version=…).
var (
	version = "dev"
	commit  = ""
)

type versionOptions struct {
	f    *Factory
	JSON bool
}

type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
	CUDA    bool   `json:"cuda"`
}

func buildInfo() versionInfo {
	vi := versionInfo{Version: version, Commit: "unknown", Go: runtime.Version(), CUDA: gpu.Built}
	if commit != "" {
		vi.Commit = commit
		return vi
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				vi.Commit = s.Value[:12]
			}
		}
	}
	return vi
}

func newVersionCmd(f *Factory, runF func(*versionOptions) error) *cobra.Command {
	opts := &versionOptions{f: f}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print cnnctl's version, commit and whether it was built with CUDA",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func runVersion(opts *versionOptions) error {
	vi := buildInfo()
	if opts.JSON {
		return json.NewEncoder(opts.f.Out).Encode(vi)
	}
	cuda := "without CUDA (CPU engine only; build with 'make cuda' for the GPU engine)"
	if vi.CUDA {
		cuda = "with CUDA"
	}
	fmt.Fprintf(opts.f.Out, "cnnctl %s (commit %s, %s), built %s\n", vi.Version, vi.Commit, vi.Go, cuda)
	return nil
}
