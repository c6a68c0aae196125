package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// runModel benchmarks a zoo model on the CPU with a tiny batch.
func runModel(t *testing.T, name, mode string) (*Report, *zoo.Report) {
	t.Helper()
	spec, err := zoo.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	peaks := &Peaks{Device: cpu.New().Name(), GFLOPS: 10, GBPS: 20, Method: "test", MeasuredAt: "now"}
	r, err := Run(spec, cpu.New(), Config{Batch: 2, Iters: 2, Warmup: 1, Mode: mode, Seed: 1, Peaks: peaks})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := zoo.Summary(spec, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r, sum
}

// TestTableLeNetResNet checks the rows of lenet and resnet on the CPU,
// with the plan's rewrite off (TestFusedRows has it on): one per leaf
// layer by its YAML name, FLOPs = 2 x MACs x batch exactly for
// convolutions and linear layers (backward twice that), the sums and the
// overhead consistent, and the JSON valid.
func TestTableLeNetResNet(t *testing.T) {
	t.Setenv("CNNCTL_FUSE", "0")
	for _, name := range []string{"lenet", "resnet"} {
		t.Run(name, func(t *testing.T) {
			r, sum := runModel(t, name, "train")
			rows := map[string]Layer{}
			for _, l := range r.Layers {
				if _, dup := rows[l.Name]; dup {
					t.Errorf("row %s appears twice", l.Name)
				}
				rows[l.Name] = l
			}
			leaves := 0
			for _, s := range sum.Rows {
				if !s.Leaf {
					continue
				}
				leaves++
				l, ok := rows[s.Name]
				if !ok {
					t.Errorf("leaf %s has no row", s.Name)
					continue
				}
				if l.MACs != s.MACs || l.Params != s.Params {
					t.Errorf("%s: MACs %d params %d, summary says %d and %d", s.Name, l.MACs, l.Params, s.MACs, s.Params)
				}
				if s.Type == "conv2d" || s.Type == "linear" {
					if want := 2 * s.MACs * int64(r.Batch); l.Forward.FLOPs != want {
						t.Errorf("%s: forward FLOPs %d, want 2 x %d MACs x batch %d = %d", s.Name, l.Forward.FLOPs, s.MACs, r.Batch, want)
					}
					// The first convolution skips its input gradient: weight
					// gradient only, as many FLOPs as the forward.
					mult := int64(2)
					if l.Name == r.Layers[0].Name && s.Type == "conv2d" {
						mult = 1
					}
					if l.Backward == nil || l.Backward.FLOPs != mult*l.Forward.FLOPs {
						t.Errorf("%s: backward FLOPs %+v, want %d x forward", s.Name, l.Backward, mult)
					}
				}
				if l.Forward.MedianMS <= 0 && l.Type != "flatten" {
					t.Errorf("%s: forward median %g ms", s.Name, l.Forward.MedianMS)
				}
			}
			// resnet: every residual block also runs its post relu, a second call
			// of the body's relu module in PyTorch ("layer1.0.relu#2").
			extra := 0
			for _, l := range r.Layers {
				if strings.Contains(l.Name, "#") {
					extra++
				}
			}
			if len(r.Layers) != leaves+extra {
				t.Errorf("%d rows, want %d leaves + %d second calls", len(r.Layers), leaves, extra)
			}
			if name == "resnet" && extra != 6 {
				t.Errorf("resnet: %d post relus, want 6", extra)
			}
			checkStep(t, r)
			tbl := validTable(t, r)
			if got := strings.Count(tbl.String(), "\n*  "); got != Hotspots {
				t.Errorf("table marks %d hotspots, want %d:\n%s", got, Hotspots, tbl.String())
			}
			var csvBuf bytes.Buffer
			if err := r.WriteCSV(&csvBuf); err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(csvBuf.String(), "\n"); got != len(r.Layers)+1 {
				t.Errorf("CSV has %d lines, want %d", got, len(r.Layers)+1)
			}
		})
	}
}

// validTable checks that r's JSON validates and returns its table.
func validTable(t *testing.T, r *Report) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := Validate(buf.Bytes()); err != nil {
		t.Error(err)
	}
	var tbl bytes.Buffer
	if err := r.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	return &tbl
}

// checkStep: layer sum + overhead = step by construction, the shares add
// up to the layer sum's, and the parts of the overhead to the overhead.
func checkStep(t *testing.T, r *Report) {
	t.Helper()
	s := r.Step
	var sum, share float64
	for _, l := range r.Layers {
		sum += l.TotalMS
		share += l.Share
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	if !near(sum, s.LayersSumMS) {
		t.Errorf("layers_sum_ms %g, rows add to %g", s.LayersSumMS, sum)
	}
	if !near(s.LayersSumMS+s.OverheadMS, s.MedianMS) {
		t.Errorf("layers_sum_ms %g + overhead_ms %g != step %g", s.LayersSumMS, s.OverheadMS, s.MedianMS)
	}
	if !near(s.LossMS+s.UpdateMS+s.OtherMS, s.OverheadMS) {
		t.Errorf("loss %g + update %g + other %g != overhead %g", s.LossMS, s.UpdateMS, s.OtherMS, s.OverheadMS)
	}
	if !near(share, s.LayersSumMS/s.MedianMS) {
		t.Errorf("shares add to %g, want %g", share, s.LayersSumMS/s.MedianMS)
	}
	if s.MedianMS <= 0 || r.Throughput.InferImagesPerS <= 0 {
		t.Errorf("step %g ms, inference %g img/s", s.MedianMS, r.Throughput.InferImagesPerS)
	}
	if r.Mode == "train" && !near(r.Throughput.TrainImagesPerS, float64(r.Batch)/(s.MedianMS/1000)) {
		t.Errorf("train %g img/s, step %g ms for %d images", r.Throughput.TrainImagesPerS, s.MedianMS, r.Batch)
	}
}

func TestInferMode(t *testing.T) {
	r, _ := runModel(t, "lenet", "infer")
	for _, l := range r.Layers {
		if l.Backward != nil {
			t.Errorf("%s: backward timed in infer mode", l.Name)
		}
	}
	if r.Throughput.TrainImagesPerS != 0 || r.Step.What != "forward" || r.Step.LossMS != 0 {
		t.Errorf("infer mode: step %+v throughput %+v", r.Step, r.Throughput)
	}
	checkStep(t, r)
}

func TestStepOnly(t *testing.T) {
	spec, err := zoo.Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(spec, cpu.New(), Config{Batch: 2, Iters: 1, Mode: "train", StepOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != 0 || r.Layers == nil {
		t.Errorf("step only: %d layers (nil %v), want an empty list", len(r.Layers), r.Layers == nil)
	}
	var buf bytes.Buffer
	r.WriteJSON(&buf)
	if err := Validate(buf.Bytes()); err != nil {
		t.Error(err)
	}
}

func TestRunRejects(t *testing.T) {
	spec, err := zoo.Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{{Batch: 0, Iters: 1, Mode: "train"}, {Batch: 1, Iters: 0, Mode: "train"}, {Batch: 1, Iters: 1, Mode: "eval"}, {Batch: 1, Iters: 1, Warmup: -1, Mode: "train"}} {
		if _, err := Run(spec, cpu.New(), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "cnnctl-lenet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(good); err != nil {
		t.Fatalf("testdata/cnnctl-lenet.json: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"missing key", func(m map[string]any) { delete(m, "step") }, "step: missing"},
		{"wrong type", func(m map[string]any) { m["batch"] = "128" }, "batch: string, want integer"},
		{"fraction", func(m map[string]any) { m["batch"] = 1.5 }, "batch: 1.5, want integer"},
		{"version", func(m map[string]any) { m["schema_version"] = 2 }, "schema_version is 2"},
		{"mode", func(m map[string]any) { m["mode"] = "eval" }, "mode is \"eval\""},
		{"layer key", func(m map[string]any) { delete(m["layers"].([]any)[0].(map[string]any), "forward") }, "layers[0].forward: missing"},
		{"null forward", func(m map[string]any) { m["layers"].([]any)[0].(map[string]any)["forward"] = nil }, "layers[0].forward: null"},
	} {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		c.edit(m)
		data, _ := json.Marshal(m)
		err := Validate(data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestSchemaDocumented: every key of the schema is in docs/bench-schema.md.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "bench-schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range SchemaKeys() {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/bench-schema.md does not document `%s`", k)
		}
	}
}

// TestCompareGolden compares a cnnctl run with a PyTorch run (testdata,
// real runs at batch 16) and a report with itself; -update rewrites.
func TestCompareGolden(t *testing.T) {
	for _, c := range []struct{ a, b, golden string }{
		{"torch-lenet.json", "cnnctl-lenet.json", "compare-torch-cnnctl.golden"},
		{"cnnctl-lenet.json", "torch-lenet-step.json", "compare-step-only.golden"},
	} {
		a, err := ReadReport(filepath.Join("testdata", c.a))
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadReport(filepath.Join("testdata", c.b))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Compare(&buf, a, b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", c.golden)
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if buf.String() != string(want) {
			t.Errorf("compare %s %s:\n%s\nwant (%s):\n%s", c.a, c.b, buf.String(), path, want)
		}
	}
}

func TestPeaksCache(t *testing.T) {
	be := cpu.New()
	p, err := MeasurePeaks(be, PeakConfig{GEMM: 32, CopyMiB: 1, MinTries: 1, MinTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if p.GFLOPS <= 0 || p.GBPS <= 0 || p.Device != be.Name() {
		t.Fatalf("peaks %+v", p)
	}
	path := filepath.Join(t.TempDir(), "cnnctl", "peaks.json")
	if got, err := LoadPeaks(path, p.Device); err != nil || got != nil {
		t.Fatalf("empty cache: %v, %v", got, err)
	}
	other := &Peaks{Device: "other", GFLOPS: 1, GBPS: 1}
	for _, q := range []*Peaks{other, p} {
		if err := SavePeaks(path, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []*Peaks{other, p} {
		got, err := LoadPeaks(path, q.Device)
		if err != nil || got == nil || *got != *q {
			t.Errorf("load %s: %+v, %v; want %+v", q.Device, got, err, q)
		}
	}
}

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, c := range []struct {
		in   []time.Duration
		want dist
	}{
		{nil, dist{}},
		{ms(5), dist{5, 5, 5}},
		{ms(4, 1, 3, 2), dist{2.5, 1, 4}},
		{ms(10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100), dist{6, 2, 10}},
	} {
		if got := summarize(c.in); got != c.want {
			t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
