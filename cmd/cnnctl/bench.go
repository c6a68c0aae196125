package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newBenchCmd is a placeholder until the command is built.
func newBenchCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "bench --model NAME",
		Short: "Per-layer forward/backward timings, FLOPs, bandwidth and step time (not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("%s is not built yet in this version of cnnctl", cmd.Name())
		},
	}
}
