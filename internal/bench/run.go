package bench

import (
	"cmp"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/plan"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// Config says what to run.
type Config struct {
	Batch   int          // images per step
	Input   tensor.Shape // per image; nil: the model's default
	Classes int          // 0: the model's default
	Iters   int          // timed iterations of each measurement
	Warmup  int          // untimed training steps (or forwards) first
	Mode    string       // "train" or "infer"
	// StepOnly skips the per-layer (hooked) run: `bench --all`.
	StepOnly bool
	Seed     int64
	// Peaks, when not nil and measured on this device, give the percentages.
	Peaks *Peaks
	// Precision is the arithmetic the backend was set to ("fp32" when
	// empty), and TensorCore the layer types whose FLOPs run in it
	// (gpu.Math.LayerTypes); every other layer runs fp32.
	Precision  string
	TensorCore []string
	// NoGraphs skips the replay half of Step.HostEnqueue (--no-graphs).
	NoGraphs bool
}

// layerMath is the arithmetic a layer of type typ runs in.
func (cfg Config) layerMath(typ string) string {
	if cfg.Precision == "" || !slices.Contains(cfg.TensorCore, typ) {
		return "fp32"
	}
	return cfg.Precision
}

// lr is the benchmark's learning rate: small, so that the weights stay
// finite (no NaN or denormal slow paths) over any number of iterations.
const lr = 1e-3

// Run builds spec on be with a timer around every leaf layer, compiles it
// as training does (internal/plan; a fused node gets a timer of its own
// and is one row) and measures,
// in this order: warmup steps; the whole step, timers off (Config.Iters
// times); warmup and timed inference forwards, timers off; then the step again with the
// timers on, which gives the layer rows and the loss and update times.
func Run(spec *zoo.Spec, be tensor.Backend, cfg Config) (*Report, error) {
	switch {
	case cfg.Batch < 1:
		return nil, fmt.Errorf("bench: batch size %d, want >= 1", cfg.Batch)
	case cfg.Iters < 1:
		return nil, fmt.Errorf("bench: %d iterations, want >= 1", cfg.Iters)
	case cfg.Warmup < 0:
		return nil, fmt.Errorf("bench: %d warmup iterations, want >= 0", cfg.Warmup)
	case cfg.Mode != "train" && cfg.Mode != "infer":
		return nil, fmt.Errorf("bench: mode %q, want train or infer", cfg.Mode)
	}
	date := time.Now().UTC().Format(time.RFC3339)
	rec := NewRecorder(be)
	m, err := zoo.BuildWith(spec, be, cfg.Input, cfg.Classes, cfg.Seed, zoo.BuildOptions{Wrap: rec.Wrap})
	if err != nil {
		return nil, err
	}
	n := cfg.Batch
	// The model runs compiled, as train and eval run it (CNNCTL_PLAN=0:
	// as it is): fused nodes, timed as one row each, and one arena.
	if plan.Enabled() {
		opts := plan.FromEnv()
		opts.Wrap = rec.WrapFused
		p, err := plan.Attach(m, n, cfg.Mode == "train", opts)
		if err != nil {
			return nil, fmt.Errorf("bench %s: %w", spec.Name, err)
		}
		defer p.Free()
	}
	classes := m.Out.Numel()
	rng := rand.New(rand.NewSource(cfg.Seed))
	hx := make([]float32, n*m.In.Numel())
	for i := range hx {
		hx[i] = float32(rng.NormFloat64())
	}
	hy := make([]float32, n)
	for i := range hy {
		hy[i] = float32(rng.Intn(classes))
	}
	x := be.New(append(tensor.Shape{n}, m.In...))
	y := be.New(tensor.Shape{n})
	defer be.Free(x)
	defer be.Free(y)
	be.Upload(x, hx)
	be.Upload(y, hy)

	loss := layers.NewLoss(be, 0)
	var opt *train.Optimizer
	if cfg.Mode == "train" {
		if opt, err = train.NewOptimizer(m, train.OptimizerConfig{Kind: "sgd", Momentum: 0.9}); err != nil {
			return nil, fmt.Errorf("bench %s: %w", spec.Name, err)
		}
	}
	var step uint64
	trainStep := func() {
		step++
		m.Ctx.Step = step
		logits := m.Forward(x, true)
		loss.Forward(logits, y)
		m.Backward(loss.Backward())
		opt.Update(lr)
	}
	infer := func() { m.Forward(x, false) }
	timeIt := func(fn func()) (time.Duration, error) {
		if err := be.Sync(); err != nil {
			return 0, err
		}
		start := time.Now()
		fn()
		err := be.Sync()
		return time.Since(start), err
	}
	repeat := func(k int, fn func()) ([]time.Duration, error) {
		ds := make([]time.Duration, k)
		for i := range ds {
			var err error
			if ds[i], err = timeIt(fn); err != nil {
				return nil, fmt.Errorf("bench %s: %w", spec.Name, err)
			}
		}
		return ds, nil
	}

	main := trainStep
	if cfg.Mode == "infer" {
		main = infer
	}
	if _, err := repeat(cfg.Warmup, main); err != nil {
		return nil, err
	}
	stepTimes, err := repeat(cfg.Iters, main)
	if err != nil {
		return nil, err
	}
	inferTimes := stepTimes
	if cfg.Mode == "train" {
		if _, err := repeat(cfg.Warmup, infer); err != nil {
			return nil, err
		}
		if inferTimes, err = repeat(cfg.Iters, infer); err != nil {
			return nil, err
		}
	}

	var lossTimes, updateTimes []time.Duration
	if !cfg.StepOnly {
		rec.On = true
		for range cfg.Iters {
			if cfg.Mode == "infer" {
				if _, err := timeIt(infer); err != nil {
					return nil, fmt.Errorf("bench %s: %w", spec.Name, err)
				}
				rec.EndIter()
				continue
			}
			step++
			m.Ctx.Step = step
			logits := m.Forward(x, true)
			// Timed as the layers are (device events where the backend has them).
			dl := rec.Measure(func() { loss.Forward(logits, y) })
			m.Backward(loss.Backward())
			du := rec.Measure(func() { opt.Update(lr) })
			if err := be.Err(); err != nil {
				return nil, fmt.Errorf("bench %s: %w", spec.Name, err)
			}
			lossTimes = append(lossTimes, dl)
			updateTimes = append(updateTimes, du)
			rec.EndIter()
		}
		rec.On = false
	}
	if err := be.Err(); err != nil {
		return nil, fmt.Errorf("bench %s: %w", spec.Name, err)
	}

	r := &Report{
		Schema: SchemaName, SchemaVersion: SchemaVersion, Tool: "cnnctl",
		Date: date, Model: spec.Name, Device: be.Name(), Batch: n, Input: m.In.String(),
		Mode: cfg.Mode, Iters: cfg.Iters, Warmup: cfg.Warmup, Precision: cmp.Or(cfg.Precision, "fp32"),
		Timing: TimingWall,
		Layers: []Layer{},
	}
	if rec.DeviceTimed() {
		r.Timing = TimingEvents
	}
	if cfg.Peaks != nil && cfg.Peaks.Device == be.Name() {
		r.Peaks = cfg.Peaks
	}
	sd := summarize(stepTimes)
	id := summarize(inferTimes)
	r.Step = Step{MedianMS: sd.median, P10MS: sd.p10, P90MS: sd.p90, What: "forward+loss+backward+sgd"}
	if cfg.Mode == "infer" {
		r.Step.What = "forward"
	}
	r.Throughput = Throughput{InferMS: id.median, InferImagesPerS: perSecond(n, id.median)}
	if cfg.Mode == "train" {
		r.Throughput.TrainImagesPerS = perSecond(n, sd.median)
	}
	if cfg.Mode == "train" {
		if r.Step.HostEnqueue, err = hostEnqueue(m, opt, hx, hy, n, cfg); err != nil {
			return nil, fmt.Errorf("bench %s: host enqueue: %w", spec.Name, err)
		}
	}
	if cfg.StepOnly {
		r.Step.Note = "step only: no per-layer run"
		return r, nil
	}

	params := paramsByLayer(m)
	for _, t := range rec.Leaves() {
		if !t.Ran {
			continue // replaced by a fused node
		}
		c, ps, typ := fusedCost(t, n, params, cfg.Mode == "train")
		math := cfg.layerMath(typ)
		row := Layer{
			Name: t.Label, Type: t.Type(), In: t.In.String(), Out: t.Out.String(),
			Params: ps, MACs: t.MACs(), Math: math,
			Forward: r.phase(summarize(t.fwd), c.fwdFLOPs, c.fwdBytes, math),
		}
		row.TotalMS = row.Forward.MedianMS
		if cfg.Mode == "train" {
			b := r.phase(summarize(t.bwd), c.bwdFLOPs, c.bwdBytes, math)
			row.Backward = &b
			row.TotalMS += b.MedianMS
		}
		r.Layers = append(r.Layers, row)
	}
	r.Step.LossMS = summarize(lossTimes).median
	r.Step.UpdateMS = summarize(updateTimes).median
	r.finishStep()
	return r, nil
}

// finishStep adds up the layer rows, their shares, and the overhead:
// LayersSumMS + OverheadMS = MedianMS exactly.
func (r *Report) finishStep() {
	var sum float64
	for i := range r.Layers {
		sum += r.Layers[i].TotalMS
		if r.Step.MedianMS > 0 {
			r.Layers[i].Share = r.Layers[i].TotalMS / r.Step.MedianMS
		}
	}
	r.Step.LayersSumMS = sum
	r.Step.OverheadMS = r.Step.MedianMS - sum
	r.Step.OtherMS = r.Step.OverheadMS - r.Step.LossMS - r.Step.UpdateMS
	var why []string
	if r.Mode == "train" {
		why = append(why, "the loss and the SGD update (loss_ms, update_ms)")
	}
	why = append(why, "container work outside the leaf layers (residual adds or fused add+ReLUs, concat copies)")
	if !strings.HasPrefix(r.Device, "cpu") {
		why = append(why, "kernel launches and queueing that the per-layer syncs serialise")
	}
	r.Step.Note = "overhead = step median - sum of layer medians: " + strings.Join(why, ", ") +
		"; medians of separate runs do not add exactly, and the per-layer syncs change what is measured, so it can be negative"
}

// phase turns a time distribution and a cost into a Phase; the FLOP
// percentages are of the peak of math, 0 where that peak is unknown.
func (r *Report) phase(d dist, flops, bytes int64, math string) Phase {
	p := Phase{MedianMS: d.median, P10MS: d.p10, P90MS: d.p90, FLOPs: flops, Bytes: bytes}
	if d.median > 0 {
		p.GFLOPS = float64(flops) / (d.median * 1e6)
		p.GBPS = float64(bytes) / (d.median * 1e6)
	}
	if pk := r.Peaks; pk != nil && pk.GBPS > 0 && pk.FLOPSFor(math) > 0 {
		p.PctPeakFLOPS = 100 * p.GFLOPS / pk.FLOPSFor(math)
		p.PctPeakBW = 100 * p.GBPS / pk.GBPS
		if roof := roofline(pk.FLOPSFor(math), pk.GBPS, flops, bytes); roof > 0 {
			p.PctRoofline = 100 * p.GFLOPS / roof
		} else if bytes > 0 {
			p.PctRoofline = p.PctPeakBW // no FLOPs: only bandwidth bounds it
		}
	}
	return p
}

// roofline is the attainable GFLOP/s at this arithmetic intensity:
// min(peak GFLOP/s, FLOPs/bytes × peak GB/s).
func roofline(peakGFLOPS, peakGBPS float64, flops, bytes int64) float64 {
	if flops == 0 {
		return 0
	}
	if bytes == 0 {
		return peakGFLOPS
	}
	return min(peakGFLOPS, float64(flops)/float64(bytes)*peakGBPS)
}

func perSecond(n int, ms float64) float64 {
	if ms <= 0 {
		return 0
	}
	return float64(n) / (ms / 1000)
}

// paramsByLayer counts each layer's trainable values: a parameter
// "a.b.weight" belongs to layer "a.b".
func paramsByLayer(m *layers.Model) map[string]int64 {
	out := map[string]int64{}
	for _, p := range m.Params {
		if i := strings.LastIndex(p.Name, "."); i >= 0 {
			out[p.Name[:i]] += int64(p.Shape.Numel())
		}
	}
	return out
}
