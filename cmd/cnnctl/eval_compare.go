package main

import (
	"fmt"
	"strings"
)

// runEvalCompare evaluates several checkpoints and prints one table (or,
// with --json, an array of their results).
func runEvalCompare(o *evalOptions) error {
	var rs []*evalResult
	for _, p := range o.Ckpts {
		r, err := evalCheckpoint(o, p)
		if err != nil {
			if strings.Contains(err.Error(), p) {
				return err
			}
			return fmt.Errorf("%s: %w", p, err) // which of the checkpoints
		}
		rs = append(rs, r)
	}
	if o.JSON {
		return printJSON(o.f, rs)
	}
	// Text columns left-aligned, numbers right-aligned.
	rows := [][]string{{"RUN", "MODEL", "PARAMS", "TOP-1", "TOP-5", "LOSS", "IMAGES", "IMAGES/S", "DATA"}}
	for _, r := range rs {
		rows = append(rows, []string{r.Checkpoint, r.Model, commas(r.Params), fmt.Sprintf("%.4f", r.Top1), fmt.Sprintf("%.4f", r.Top5),
			fmt.Sprintf("%.4f", r.Loss), commas(int64(r.N)), commas(int64(r.ImagesPerSec + 0.5)), r.Data + ", " + r.Images})
	}
	left := map[int]bool{0: true, 1: true, 8: true}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			switch {
			case i == len(row)-1:
				b.WriteString(c)
			case left[i]:
				fmt.Fprintf(&b, "%-*s", width[i], c)
			default:
				fmt.Fprintf(&b, "%*s", width[i], c)
			}
		}
		fmt.Fprintln(o.f.Out, b.String())
	}
	return nil
}
