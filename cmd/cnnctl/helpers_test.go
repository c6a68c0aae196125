package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// parseCmd runs a command's flag parsing and validation with args,
// capturing its options through runF instead of doing the work (gh style).
func parseCmd[O any](t *testing.T, build func(*Factory, func(*O) error) *cobra.Command, args ...string) (*O, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(strings.NewReader(""), &out, &errOut)
	var got *O
	cmd := build(f, func(o *O) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return got, err
}
