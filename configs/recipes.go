package configs

import "embed"

// Recipes holds recipes/*.yaml: training recipes whose keys are the flags
// of `cnnctl train` (used with --config NAME).
//
//go:embed recipes/*.yaml
var Recipes embed.FS
