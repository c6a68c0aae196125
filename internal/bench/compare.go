package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ReadReport reads and validates one JSON report.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read bench report: %w", err)
	}
	if err := Validate(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read bench report %s: %w", path, err)
	}
	return &r, nil
}

// Compare prints B relative to A: per layer (matched by name) forward and
// backward medians and B/A, then the step and the throughputs. A ratio
// above 1 means B takes longer (or, for images/s, B is faster). Layers
// found in only one report are listed after the matched ones; a report
// without layer rows (a step-only PyTorch run) compares by step only.
func Compare(w io.Writer, a, b *Report) error {
	var s strings.Builder
	for _, x := range []struct {
		tag string
		r   *Report
	}{{"A", a}, {"B", b}} {
		r := x.r
		fmt.Fprintf(&s, "%s: %s %s on %s, batch %d of %s, %s", x.tag, r.Tool, r.Model, r.Device, r.Batch, r.Input, r.Mode)
		if r.Precision != "" {
			fmt.Fprintf(&s, ", %s", r.Precision)
		}
		if r.Commit != "" {
			fmt.Fprintf(&s, ", commit %s", r.Commit)
		}
		fmt.Fprintf(&s, " (%s)\n", r.Date)
	}
	var warn []string
	if a.Model != b.Model {
		warn = append(warn, fmt.Sprintf("different models (%s, %s)", a.Model, b.Model))
	}
	if a.Batch != b.Batch || a.Input != b.Input {
		warn = append(warn, fmt.Sprintf("different batches (%d of %s, %d of %s)", a.Batch, a.Input, b.Batch, b.Input))
	}
	if a.Mode != b.Mode {
		warn = append(warn, fmt.Sprintf("different modes (%s, %s)", a.Mode, b.Mode))
	}
	if pa, pb := cmp.Or(a.Precision, "fp32"), cmp.Or(b.Precision, "fp32"); pa != pb && a.Tool == b.Tool {
		warn = append(warn, fmt.Sprintf("different precisions (%s, %s)", pa, pb))
	}
	if len(warn) > 0 {
		fmt.Fprintf(&s, "warning: %s\n", strings.Join(warn, "; "))
	}
	s.WriteString("\n")

	switch {
	case len(a.Layers) == 0 && len(b.Layers) == 0:
		s.WriteString("no per-layer rows in either report: step only\n")
	case len(a.Layers) == 0 || len(b.Layers) == 0:
		which := "A"
		if len(b.Layers) == 0 {
			which = "B"
		}
		fmt.Fprintf(&s, "no per-layer rows in %s: step only\n", which)
	default:
		compareLayers(&s, a, b)
	}

	s.WriteString("\n")
	cells := [][]string{{"", "A", "B", "B/A"}}
	cells = append(cells, []string{"step ms (" + a.Step.What + ")", ms(a.Step.MedianMS), ms(b.Step.MedianMS), times(b.Step.MedianMS, a.Step.MedianMS)})
	if len(a.Layers) > 0 && len(b.Layers) > 0 {
		cells = append(cells,
			[]string{"sum of layers ms", ms(a.Step.LayersSumMS), ms(b.Step.LayersSumMS), times(b.Step.LayersSumMS, a.Step.LayersSumMS)},
			[]string{"overhead ms", ms(a.Step.OverheadMS), ms(b.Step.OverheadMS), times(b.Step.OverheadMS, a.Step.OverheadMS)})
	}
	ta, tb := a.Throughput, b.Throughput
	if ta.TrainImagesPerS > 0 || tb.TrainImagesPerS > 0 {
		cells = append(cells, []string{"train img/s", rate(ta.TrainImagesPerS), rate(tb.TrainImagesPerS), times(tb.TrainImagesPerS, ta.TrainImagesPerS)})
	}
	cells = append(cells,
		[]string{"inference ms", ms(ta.InferMS), ms(tb.InferMS), times(tb.InferMS, ta.InferMS)},
		[]string{"inference img/s", rate(ta.InferImagesPerS), rate(tb.InferImagesPerS), times(tb.InferImagesPerS, ta.InferImagesPerS)})
	writeCells(&s, cells, 1)
	if r := ratio(b.Step.MedianMS, a.Step.MedianMS); r > 0 {
		word := "slower"
		if r < 1 {
			word, r = "faster", 1/r
		}
		fmt.Fprintf(&s, "B's step is %.2fx %s than A's\n", r, word)
	}
	_, err := io.WriteString(w, s.String())
	return err
}

func compareLayers(s *strings.Builder, a, b *Report) {
	byName := map[string]*Layer{}
	for i := range b.Layers {
		byName[b.Layers[i].Name] = &b.Layers[i]
	}
	matched := map[string]bool{}
	cells := [][]string{{"layer", "type", "fwd A", "fwd B", "B/A", "bwd A", "bwd B", "B/A"}}
	var onlyA []string
	for _, la := range a.Layers {
		lb, ok := byName[la.Name]
		if !ok {
			onlyA = append(onlyA, la.Name)
			continue
		}
		matched[la.Name] = true
		row := []string{la.Name, la.Type, ms(la.Forward.MedianMS), ms(lb.Forward.MedianMS), times(lb.Forward.MedianMS, la.Forward.MedianMS), "-", "-", "-"}
		if la.Backward != nil {
			row[5] = ms(la.Backward.MedianMS)
		}
		if lb.Backward != nil {
			row[6] = ms(lb.Backward.MedianMS)
		}
		if la.Backward != nil && lb.Backward != nil {
			row[7] = times(lb.Backward.MedianMS, la.Backward.MedianMS)
		}
		cells = append(cells, row)
	}
	var onlyB []string
	for _, lb := range b.Layers {
		if !matched[lb.Name] {
			onlyB = append(onlyB, lb.Name)
		}
	}
	if len(cells) > 1 {
		writeCells(s, cells, 2)
	} else {
		s.WriteString("no layer names in common\n")
	}
	if len(onlyA) > 0 {
		fmt.Fprintf(s, "only in A: %s\n", strings.Join(onlyA, " "))
	}
	if len(onlyB) > 0 {
		fmt.Fprintf(s, "only in B: %s\n", strings.Join(onlyB, " "))
	}
}

// times writes b/a as "1.23x", or "-" when either is missing.
func times(b, a float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(b/a, 'f', 2, 64) + "x"
}
