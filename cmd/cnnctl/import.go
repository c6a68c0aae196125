package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newImportCmd is a placeholder until the command is built.
func newImportCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "import --model NAME WEIGHTS.safetensors -o CKPT",
		Short: "Build a checkpoint from PyTorch weights (safetensors) (not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("%s is not built yet in this version of cnnctl", cmd.Name())
		},
	}
}
