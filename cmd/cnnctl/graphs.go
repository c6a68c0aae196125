package main

import "github.com/spf13/pflag"

// graphsUsage is --no-graphs' help line (train, eval, bench).
const graphsUsage = "run every step op by op instead of replaying a captured CUDA graph (see --help)"

// graphsHelp is the paragraph of the commands' long help that says what
// graphs are and why one would turn them off.
const graphsHelp = `On a GPU, each batch size's step is captured once as a CUDA graph (its first
step runs op by op, its second is recorded) and replayed from then on: the
host queues the whole step (about 150 kernels) with one call instead of one
launch per kernel, which is most of a small model's step time. The results
are the same bits. --no-graphs runs every step op by op: to find which
kernel fails (a failure inside a replay is reported for the whole graph), to
profile kernel by kernel, or to compare the two paths. A capture that fails
(a driver too old, an op that cannot be captured) turns graphs off with one
line saying why, and the run goes on op by op. The CPU runs op by op always.`

// addGraphsFlag adds --no-graphs to a command's flags.
func addGraphsFlag(fl *pflag.FlagSet, noGraphs *bool) {
	fl.BoolVar(noGraphs, "no-graphs", false, graphsUsage)
}
