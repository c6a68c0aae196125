package bench

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// TestPrecisionRows: under tf32 the convolution and linear rows (lenet's
// fused conv2d+relu rows included) run in
// tf32 and their percentages are of the TF32 peak (gpu.MathTF32's
// LayerTypes); under bf16 the convolution and linear rows run in bf16, of
// the bf16 peak.
func TestPrecisionRows(t *testing.T) {
	spec, err := zoo.Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New()
	tf32, bf16 := 40.0, 80.0
	peaks := &Peaks{Device: be.Name(), GFLOPS: 10, GBPS: 20, TF32GFLOPS: &tf32, TF32Method: "test", BF16GFLOPS: &bf16, BF16Method: "test"}
	tensorCore := map[string][]string{"tf32": {"conv2d", "linear"}, "bf16": {"conv2d", "linear"}}
	for _, prec := range []string{"tf32", "bf16"} {
		r, err := Run(spec, be, Config{Batch: 2, Iters: 1, Warmup: 0, Mode: "train", Seed: 1, Peaks: peaks,
			Precision: prec, TensorCore: tensorCore[prec]})
		if err != nil {
			t.Fatal(err)
		}
		if r.Precision != prec {
			t.Errorf("report precision %q, want %s", r.Precision, prec)
		}
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
		seen := map[string]bool{}
		for _, l := range r.Layers {
			want, peak := "fp32", 10.0
			if slices.Contains(tensorCore[prec], baseType(l.Type)) {
				want, peak = prec, map[string]float64{"tf32": tf32, "bf16": bf16}[prec]
			}
			seen[baseType(l.Type)] = true
			if l.Math != want {
				t.Errorf("%s (%s): math %q, want %q", l.Name, l.Type, l.Math, want)
			}
			if l.Forward.FLOPs > 0 && !near(l.Forward.PctPeakFLOPS, 100*l.Forward.GFLOPS/peak) {
				t.Errorf("%s %s: pct_peak_flops %g, want 100 x %g / %g", prec, l.Name, l.Forward.PctPeakFLOPS, l.Forward.GFLOPS, peak)
			}
		}
		if !seen["conv2d"] || !seen["linear"] {
			t.Fatalf("lenet rows lack conv2d or linear: %v", seen)
		}
		tbl := validTable(t, r)
		for _, want := range []string{"TFLOP/s", "%peak", "precision: " + prec, "tf32 peak: 40.0 GFLOP/s", "bf16 peak: 80.0 GFLOP/s"} {
			if !strings.Contains(tbl.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, tbl.String())
			}
		}
	}

	// Without a TF32 peak the tf32 rows have no FLOP percentage (0), not
	// one of the fp32 peak.
	peaks.TF32GFLOPS = nil
	r, err := Run(spec, be, Config{Batch: 2, Iters: 1, Mode: "train", Seed: 1, Peaks: peaks, Precision: "tf32", TensorCore: []string{"conv2d"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Layers {
		if baseType(l.Type) == "conv2d" && (l.Forward.PctPeakFLOPS != 0 || l.Forward.PctRoofline != 0) {
			t.Errorf("%s: %g%% of an unknown TF32 peak", l.Name, l.Forward.PctPeakFLOPS)
		}
	}
}

// baseType is a row's layer type, or a fused row's first part's (the
// convolution of a conv2d+relu, whose FLOPs are the convolution's).
func baseType(typ string) string { return strings.SplitN(typ, "+", 2)[0] }

// TestPeaksTF32: without a TF32 switch the peak is unknown and says why;
// with one, the 1x1 convolution is timed with TF32 on, and the backend is
// switched back to fp32; a refused switch (below sm_80) is unknown with
// the reason.
func TestPeaksTF32(t *testing.T) {
	be := cpu.New()
	cfg := PeakConfig{GEMM: 16, CopyMiB: 1, MinTries: 1, MinTime: time.Millisecond, TF32Conv: [3]int{2, 8, 4}, NoTF32: "no tensor cores here"}
	p, err := MeasurePeaks(be, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.TF32GFLOPS != nil || p.TF32Method != "unknown: no tensor cores here" {
		t.Errorf("no switch: tf32 %v, %q", p.TF32GFLOPS, p.TF32Method)
	}
	if !strings.Contains(p.TF32Line(), "unknown (no tensor cores here)") {
		t.Errorf("TF32Line %q", p.TF32Line())
	}
	var calls []bool
	cfg.SetTF32 = func(on bool) error { calls = append(calls, on); return nil }
	if p, err = MeasurePeaks(be, cfg); err != nil {
		t.Fatal(err)
	}
	if p.TF32GFLOPS == nil || !(*p.TF32GFLOPS > 0) || !strings.Contains(p.TF32Method, "1x1 convolutions") || !strings.Contains(p.TF32Method, "TF32 convolution kernel on a GEMM's shape") {
		t.Errorf("with a switch: tf32 %v, %q", p.TF32GFLOPS, p.TF32Method)
	}
	if len(calls) != 2 || !calls[0] || calls[1] {
		t.Errorf("SetTF32 calls %v, want [true false]", calls)
	}
	cfg.SetTF32 = func(on bool) error {
		if on {
			return errors.New("compute capability 7.0")
		}
		return nil
	}
	if p, err = MeasurePeaks(be, cfg); err != nil {
		t.Fatal(err)
	}
	if p.TF32GFLOPS != nil || p.TF32Method != "unknown: compute capability 7.0" {
		t.Errorf("refused switch: tf32 %v, %q", p.TF32GFLOPS, p.TF32Method)
	}
	// The bf16 peak: its own switch, the bf16 kernel named, unknown without.
	calls = nil
	cfg.SetTF32, cfg.NoBF16 = nil, "no bf16 here"
	cfg.SetBF16 = func(on bool) error { calls = append(calls, on); return nil }
	if p, err = MeasurePeaks(be, cfg); err != nil {
		t.Fatal(err)
	}
	if p.BF16GFLOPS == nil || !(*p.BF16GFLOPS > 0) || !strings.Contains(p.BF16Method, "bf16 math") || p.TF32GFLOPS != nil {
		t.Errorf("bf16 switch: bf16 %v, %q; tf32 %v", p.BF16GFLOPS, p.BF16Method, p.TF32GFLOPS)
	}
	if len(calls) != 2 || !calls[0] || calls[1] {
		t.Errorf("SetBF16 calls %v, want [true false]", calls)
	}
	if p.FLOPSFor("bf16") != *p.BF16GFLOPS || p.FLOPSFor("tf32") != 0 {
		t.Errorf("FLOPSFor: bf16 %g, tf32 %g", p.FLOPSFor("bf16"), p.FLOPSFor("tf32"))
	}
	cfg.SetBF16 = nil
	if p, err = MeasurePeaks(be, cfg); err != nil || p.BF16GFLOPS != nil || !strings.Contains(p.BF16Line(), "unknown (no bf16 here)") {
		t.Errorf("no bf16 switch: %v, %q", err, p.BF16Line())
	}
	// The peaks cache keeps the TF32 peak.
	g := 123.5
	path := filepath.Join(t.TempDir(), "peaks.json")
	if err := SavePeaks(path, &Peaks{Device: "gpu", GFLOPS: 1, GBPS: 1, TF32GFLOPS: &g, TF32Method: "m"}); err != nil {
		t.Fatal(err)
	}
	got, err := LoadPeaks(path, "gpu")
	if err != nil || got == nil || got.TF32GFLOPS == nil || *got.TF32GFLOPS != g {
		t.Errorf("cached tf32 peak: %+v, %v", got, err)
	}
}

// TestSchemaOldAndNew: a version-1 report written before precision existed
// still validates; the new keys are checked when present.
func TestSchemaOldAndNew(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("testdata", "cnnctl-lenet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(old), `"precision"`) {
		t.Fatal("testdata/cnnctl-lenet.json is meant to be an old report, without precision")
	}
	if err := Validate(old); err != nil {
		t.Fatalf("old report: %v", err)
	}
	r, err := ReadReport(filepath.Join("testdata", "cnnctl-lenet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Layers[0].Math != "" || (r.Peaks != nil && r.Peaks.FLOPSFor(r.Layers[0].Math) != r.Peaks.GFLOPS) {
		t.Errorf("old report: math %q is not read as fp32", r.Layers[0].Math)
	}
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"precision", func(m map[string]any) { m["precision"] = "fp16" }, `precision is "fp16"`},
		{"precision type", func(m map[string]any) { m["precision"] = 32 }, "precision: float64, want string"},
		{"math type", func(m map[string]any) { m["layers"].([]any)[0].(map[string]any)["math"] = 1 }, "layers[0].math: float64, want string"},
	} {
		var m map[string]any
		if err := json.Unmarshal(old, &m); err != nil {
			t.Fatal(err)
		}
		c.edit(m)
		data, _ := json.Marshal(m)
		if err := Validate(data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// TestComparePrecision: compare names each report's precision and warns
// when two cnnctl runs differ in it; old reports (none) count as fp32.
func TestComparePrecision(t *testing.T) {
	a, err := ReadReport(filepath.Join("testdata", "cnnctl-lenet.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := *a
	b.Precision = "tf32"
	var buf strings.Builder
	if err := Compare(&buf, a, &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "different precisions (fp32, tf32)") || !strings.Contains(buf.String(), "train, tf32, ") {
		t.Errorf("compare of an fp32 and a tf32 run:\n%s", buf.String())
	}
	buf.Reset()
	b.Precision = "fp32"
	if err := Compare(&buf, a, &b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "different precisions") {
		t.Errorf("an old report (no precision) and an fp32 one differ:\n%s", buf.String())
	}
}
