// Package configs holds cnnctl's built-in model specs, embedded in the binary.
package configs

import "embed"

// Models holds models/*.yaml, one file per zoo model; internal/zoo reads them.
//
//go:embed models/*.yaml
var Models embed.FS
