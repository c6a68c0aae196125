package bench

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/cnnctl/cnnctl/internal/zoo"
)

// Hotspots is how many of the slowest layers the table marks with '*'.
const Hotspots = 3

// WriteJSON writes r indented, with a final newline.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable prints the layer rows sorted by time, slowest first, the
// Hotspots slowest marked with '*', then the step and how the rows add up
// to it, and the throughput.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s on %s: batch %d of %s, %s, median of %d iterations after %d warmup\n",
		r.Tool, r.Model, r.Device, r.Batch, r.Input, r.Mode, r.Iters, r.Warmup)
	if r.Commit != "" || r.Version != "" {
		fmt.Fprintf(&b, "version %s, commit %s\n", r.Version, r.Commit)
	}
	if len(r.Layers) > 0 {
		rows := append([]Layer(nil), r.Layers...)
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].TotalMS > rows[j].TotalMS })
		cells := [][]string{{"", "layer", "type", "output", "fwd ms", "fwd p10-p90", "bwd ms", "bwd p10-p90", "total ms", "share", "GFLOP", "GFLOP/s", "GB/s", "math", "TFLOP/s", "%peak", "%roof"}}
		for i, l := range rows {
			mark := ""
			if i < Hotspots && l.TotalMS > 0 {
				mark = "*"
			}
			bwd, bwdSpread := "-", "-"
			flops, bytes := l.Forward.FLOPs, l.Forward.Bytes
			if l.Backward != nil {
				bwd, bwdSpread = ms(l.Backward.MedianMS), spread(*l.Backward)
				flops += l.Backward.FLOPs
				bytes += l.Backward.Bytes
			}
			gflops, gbps := "-", "-"
			if l.TotalMS > 0 {
				gflops = strconv.FormatFloat(float64(flops)/(l.TotalMS*1e6), 'f', 2, 64)
				gbps = strconv.FormatFloat(float64(bytes)/(l.TotalMS*1e6), 'f', 2, 64)
			}
			roof := "-"
			if r.Peaks != nil && l.TotalMS > 0 && (r.Peaks.FLOPSFor(l.Math) > 0 || flops == 0) {
				roof = strconv.FormatFloat(pctRoof(r.Peaks, l.Math, flops, bytes, l.TotalMS), 'f', 1, 64)
			}
			// Convolutions and linears: TFLOP/s against the peak of the
			// arithmetic they ran in.
			math, tflops, peak := "-", "-", "-"
			if zoo.CostOf(l.Type) == zoo.CostGEMM {
				math = cmp.Or(l.Math, "fp32")
				if l.TotalMS > 0 {
					tflops = strconv.FormatFloat(float64(flops)/(l.TotalMS*1e9), 'f', 3, 64)
					if r.Peaks != nil && r.Peaks.FLOPSFor(math) > 0 {
						peak = strconv.FormatFloat(100*float64(flops)/(l.TotalMS*1e6)/r.Peaks.FLOPSFor(math), 'f', 1, 64)
					}
				}
			}
			cells = append(cells, []string{mark, l.Name, l.Type, l.Out, ms(l.Forward.MedianMS), spread(l.Forward),
				bwd, bwdSpread, ms(l.TotalMS), pct(l.Share), strconv.FormatFloat(float64(flops)/1e9, 'f', 3, 64), gflops, gbps, math, tflops, peak, roof})
		}
		writeCells(&b, cells, 3)
		fmt.Fprintf(&b, "* the %d slowest layers. GFLOP, GFLOP/s and GB/s: forward + backward; math: the arithmetic a convolution or linear ran in;\n", Hotspots)
		b.WriteString("%peak: of that arithmetic's peak FLOP/s; %roof: of min(that peak, FLOP/byte x peak GB/s).\n")
	} else {
		b.WriteString("no per-layer rows\n")
	}
	s := r.Step
	fmt.Fprintf(&b, "\nstep (%s), measured without per-layer syncs: %s ms median (p10 %s, p90 %s)\n", s.What, ms(s.MedianMS), ms(s.P10MS), ms(s.P90MS))
	if len(r.Layers) > 0 {
		fmt.Fprintf(&b, "  sum of layer medians  %10s ms  %s\n", ms(s.LayersSumMS), pct(ratio(s.LayersSumMS, s.MedianMS)))
		fmt.Fprintf(&b, "  overhead              %10s ms  %s  (step - sum)\n", ms(s.OverheadMS), pct(ratio(s.OverheadMS, s.MedianMS)))
		if r.Mode == "train" {
			fmt.Fprintf(&b, "    loss                %10s ms\n", ms(s.LossMS))
			fmt.Fprintf(&b, "    SGD update          %10s ms\n", ms(s.UpdateMS))
		}
		fmt.Fprintf(&b, "    other               %10s ms  (container adds/copies, syncs, timer and run-to-run noise)\n", ms(s.OtherMS))
	}
	if s.Note != "" {
		fmt.Fprintf(&b, "  %s\n", s.Note)
	}
	if h := s.HostEnqueue; h != nil {
		fmt.Fprintf(&b, "host time to queue a step (train.Step.Run, not waiting for the device): op by op %s, graph replay %s", us(h.EagerUS), us(h.ReplayUS))
		if h.Note != "" {
			fmt.Fprintf(&b, " (%s)", h.Note)
		}
		b.WriteString("\n")
	}
	t := r.Throughput
	if t.TrainImagesPerS > 0 {
		fmt.Fprintf(&b, "throughput: train %s img/s, inference %s img/s (%s ms per batch)\n", rate(t.TrainImagesPerS), rate(t.InferImagesPerS), ms(t.InferMS))
	} else {
		fmt.Fprintf(&b, "throughput: inference %s img/s (%s ms per batch)\n", rate(t.InferImagesPerS), ms(t.InferMS))
	}
	if r.Precision != "" {
		fmt.Fprintf(&b, "precision: %s\n", r.Precision)
	}
	if r.Peaks != nil {
		fmt.Fprintf(&b, "peaks: %.1f GFLOP/s, %.1f GB/s (%s, %s)\n", r.Peaks.GFLOPS, r.Peaks.GBPS, r.Peaks.Method, r.Peaks.MeasuredAt)
		fmt.Fprintf(&b, "tf32 peak: %s\n", r.Peaks.TF32Line())
		fmt.Fprintf(&b, "bf16 peak: %s\n", r.Peaks.BF16Line())
	} else {
		b.WriteString("peaks: not measured on this device; run 'cnnctl bench --peak' once for %peak and %roof\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes one header line and one line per layer, in execution order.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{"model", "device", "batch", "mode", "layer", "type", "in", "out", "params", "macs"}
	for _, ph := range []string{"fwd", "bwd"} {
		for _, k := range []string{"median_ms", "p10_ms", "p90_ms", "flops", "bytes", "gflops", "gbps", "pct_peak_flops", "pct_peak_bw", "pct_roofline"} {
			header = append(header, ph+"_"+k)
		}
	}
	header = append(header, "total_ms", "share")
	if err := cw.Write(header); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	phase := func(p *Phase) []string {
		if p == nil {
			return make([]string, 10)
		}
		return []string{f(p.MedianMS), f(p.P10MS), f(p.P90MS), i(p.FLOPs), i(p.Bytes), f(p.GFLOPS), f(p.GBPS), f(p.PctPeakFLOPS), f(p.PctPeakBW), f(p.PctRoofline)}
	}
	for _, l := range r.Layers {
		rec := []string{r.Model, r.Device, strconv.Itoa(r.Batch), r.Mode, l.Name, l.Type, l.In, l.Out, i(l.Params), i(l.MACs)}
		fwd := l.Forward
		rec = append(rec, phase(&fwd)...)
		rec = append(rec, phase(l.Backward)...)
		rec = append(rec, f(l.TotalMS), f(l.Share))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func pctRoof(pk *Peaks, math string, flops, bytes int64, totalMS float64) float64 {
	achieved := float64(flops) / (totalMS * 1e6)
	if roof := roofline(pk.FLOPSFor(math), pk.GBPS, flops, bytes); roof > 0 {
		return 100 * achieved / roof
	}
	return 100 * float64(bytes) / (totalMS * 1e6) / pk.GBPS
}

// writeCells aligns a table: text columns (the first textCols) left, numbers right.
func writeCells(b *strings.Builder, cells [][]string, textCols int) {
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len(s))
		}
	}
	for _, c := range cells {
		var line strings.Builder
		for i, s := range c {
			if i > 0 {
				line.WriteString("  ")
			}
			if i < textCols {
				fmt.Fprintf(&line, "%-*s", width[i], s)
			} else {
				fmt.Fprintf(&line, "%*s", width[i], s)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// ms writes a time in milliseconds with 3 significant decimals for small ones.
func ms(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1 && v > -1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 100 && v > -100:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func spread(p Phase) string { return ms(p.P10MS) + "-" + ms(p.P90MS) }

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

// rate writes images per second with thousands separators.
func rate(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
