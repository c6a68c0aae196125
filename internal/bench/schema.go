// Package bench times a model layer by layer and as a whole training step,
// attaches FLOP and byte counts to each layer, and writes the result in the
// stable JSON schema documented in docs/bench-schema.md (schema
// "cnnctl.bench", version 1), which scripts/torch_cpu_bench.py writes too.
package bench

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Schema names and versions the JSON a Report encodes to. A change that
// removes or retypes a key bumps SchemaVersion; new optional keys do not:
// precision, layers[].math, peaks.tf32_gflops and peaks.tf32_method came
// later in version 1, and a report without them reads as fp32 throughout.
const (
	SchemaName    = "cnnctl.bench"
	SchemaVersion = 1
)

// Report is one benchmark run of one model on one device.
type Report struct {
	Schema        string `json:"schema"`         // SchemaName
	SchemaVersion int    `json:"schema_version"` // SchemaVersion
	Tool          string `json:"tool"`           // "cnnctl" or "pytorch"
	Version       string `json:"version"`        // the tool's version
	Commit        string `json:"commit"`         // cnnctl's commit, "" for other tools
	Date          string `json:"date"`           // RFC 3339, when the run started
	Model         string `json:"model"`
	Device        string `json:"device"`        // as the backend names itself
	DeviceDetail  string `json:"device_detail"` // free text: PyTorch's build and threading config, ...
	Batch         int    `json:"batch"`
	Input         string `json:"input"` // per image, CxHxW
	Mode          string `json:"mode"`  // "train" or "infer"
	Iters         int    `json:"iters"`
	Warmup        int    `json:"warmup"`
	// Precision is the arithmetic asked for and run (--precision): "fp32"
	// or "tf32"; older reports have none, which means fp32.
	Precision string `json:"precision,omitempty"`
	// Timing says how the layer rows were timed.
	Timing     string     `json:"timing"`
	Layers     []Layer    `json:"layers"` // leaf layers in execution order; may be empty
	Step       Step       `json:"step"`
	Throughput Throughput `json:"throughput"`
	Peaks      *Peaks     `json:"peaks"` // null when the device's peaks were never measured
}

// Layer is one leaf layer (by its YAML name) of a Report.
type Layer struct {
	Name   string `json:"name"` // full dotted name; a second call of one module gets "#2"
	Type   string `json:"type"`
	In     string `json:"in"`  // per image
	Out    string `json:"out"` // per image
	Params int64  `json:"params"`
	MACs   int64  `json:"macs"` // per image, as `cnnctl models` counts them
	// Math is the arithmetic this layer's FLOPs ran in ("fp32", "tf32"),
	// whose peak its pct_peak_flops and pct_roofline are of; "" = fp32.
	Math string `json:"math,omitempty"`
	// Forward is always timed; Backward is null in infer mode and where
	// the tool could not time it (the PyTorch script's per-layer rows).
	Forward  Phase   `json:"forward"`
	Backward *Phase  `json:"backward"`
	TotalMS  float64 `json:"total_ms"` // forward + backward medians
	Share    float64 `json:"share"`    // total_ms / step.median_ms
}

// Phase is the forward or backward pass of one layer over iters batches.
type Phase struct {
	MedianMS float64 `json:"median_ms"`
	P10MS    float64 `json:"p10_ms"`
	P90MS    float64 `json:"p90_ms"`
	FLOPs    int64   `json:"flops"` // per batch, see docs/bench-schema.md
	Bytes    int64   `json:"bytes"` // per batch: inputs, weights, outputs once
	GFLOPS   float64 `json:"gflops"`
	GBPS     float64 `json:"gbps"`
	// Percentages of the device's peaks; 0 when peaks is null. Roofline
	// is min(peak GFLOP/s, FLOPs/bytes × peak GB/s).
	PctPeakFLOPS float64 `json:"pct_peak_flops"`
	PctPeakBW    float64 `json:"pct_peak_bw"`
	PctRoofline  float64 `json:"pct_roofline"`
}

// Step is the whole step measured on its own, without per-layer hooks, and
// how the layer rows add up to it.
type Step struct {
	What     string  `json:"what"` // "forward+loss+backward+sgd" (train) or "forward" (infer)
	MedianMS float64 `json:"median_ms"`
	P10MS    float64 `json:"p10_ms"`
	P90MS    float64 `json:"p90_ms"`
	// LayersSumMS is the sum of the layer rows' total_ms; OverheadMS is
	// MedianMS - LayersSumMS, so LayersSumMS + OverheadMS = MedianMS.
	// Positive: time outside the leaf layers; negative: the per-layer
	// syncs slowed the layers down more than the rest costs.
	LayersSumMS float64 `json:"layers_sum_ms"`
	OverheadMS  float64 `json:"overhead_ms"`
	LossMS      float64 `json:"loss_ms"`   // softmax cross-entropy, timed in the hooked run
	UpdateMS    float64 `json:"update_ms"` // SGD-momentum update, timed in the hooked run
	OtherMS     float64 `json:"other_ms"`  // OverheadMS - LossMS - UpdateMS
	Note        string  `json:"note"`
	// HostEnqueue is the host's time to queue a step through train.Step,
	// op by op and as a graph replay (train mode; enqueue.go).
	HostEnqueue *HostEnqueue `json:"host_enqueue,omitempty"`
}

// Throughput is images per second of the unhooked runs.
type Throughput struct {
	TrainImagesPerS float64 `json:"train_images_per_s"` // batch / train step; 0 in infer mode
	InferImagesPerS float64 `json:"infer_images_per_s"` // batch / inference forward
	InferMS         float64 `json:"infer_ms"`           // median inference forward of one batch
}

// Peaks are what `cnnctl bench --peak` measured on a device.
type Peaks struct {
	Device     string  `json:"device"`
	GFLOPS     float64 `json:"gflops"` // best large GEMM through the backend's LinearForward
	GBPS       float64 `json:"gbps"`   // best large Copy, read + write bytes
	Method     string  `json:"method"`
	MeasuredAt string  `json:"measured_at"` // RFC 3339
	// TF32GFLOPS is the best TF32 tensor-core GEMM-shaped run (a 1x1
	// convolution, a GEMM); nil where unknown (a
	// CPU, a GPU below sm_80, or peaks cached before it was measured), and
	// TF32Method then says why.
	TF32GFLOPS *float64 `json:"tf32_gflops,omitempty"`
	TF32Method string   `json:"tf32_method,omitempty"`
	// BF16GFLOPS and BF16Method are the same for bf16 tensor cores (bf16
	// operands, fp32 accumulation).
	BF16GFLOPS *float64 `json:"bf16_gflops,omitempty"`
	BF16Method string   `json:"bf16_method,omitempty"`
}

// TF32Line says the TF32 peak in words: the number and how, or unknown and why.
func (pk *Peaks) TF32Line() string { return peakLine(pk.TF32GFLOPS, pk.TF32Method) }

// BF16Line says the bf16 peak in words, as TF32Line.
func (pk *Peaks) BF16Line() string { return peakLine(pk.BF16GFLOPS, pk.BF16Method) }

func peakLine(gflops *float64, method string) string {
	if gflops == nil {
		if method == "" {
			return "unknown (not measured: peaks cached before cnnctl measured it; run 'cnnctl bench --peak' again)"
		}
		return "unknown (" + strings.TrimPrefix(method, "unknown: ") + ")"
	}
	return fmt.Sprintf("%.1f GFLOP/s (%s)", *gflops, method)
}

// FLOPSFor is the peak GFLOP/s of an arithmetic ("fp32" or "", "tf32",
// "bf16"), 0 where unknown.
func (pk *Peaks) FLOPSFor(math string) float64 {
	switch math {
	case "", "fp32":
		return pk.GFLOPS
	case "tf32":
		if pk.TF32GFLOPS != nil {
			return *pk.TF32GFLOPS
		}
	case "bf16":
		if pk.BF16GFLOPS != nil {
			return *pk.BF16GFLOPS
		}
	}
	return 0
}

// kind is a JSON value type in the schema description.
type kind int

const (
	kString kind = iota
	kInt
	kNumber
	kObject
	kArray
)

func (k kind) String() string {
	return [...]string{"string", "integer", "number", "object", "array"}[k]
}

// field is one key of a JSON object in the schema.
type field struct {
	kind     kind
	nullable bool
	optional bool             // may be absent: added to version 1 later
	object   map[string]field // kObject, and the items of kArray
}

var phaseSchema = map[string]field{
	"median_ms": {kind: kNumber}, "p10_ms": {kind: kNumber}, "p90_ms": {kind: kNumber},
	"flops": {kind: kInt}, "bytes": {kind: kInt}, "gflops": {kind: kNumber}, "gbps": {kind: kNumber},
	"pct_peak_flops": {kind: kNumber}, "pct_peak_bw": {kind: kNumber}, "pct_roofline": {kind: kNumber},
}

// reportSchema lists every key a version-1 report must have, with its type.
var reportSchema = map[string]field{
	"schema": {kind: kString}, "schema_version": {kind: kInt}, "tool": {kind: kString},
	"version": {kind: kString}, "commit": {kind: kString}, "date": {kind: kString},
	"model": {kind: kString}, "device": {kind: kString}, "device_detail": {kind: kString},
	"batch": {kind: kInt}, "input": {kind: kString}, "mode": {kind: kString},
	"iters": {kind: kInt}, "warmup": {kind: kInt}, "timing": {kind: kString},
	"precision": {kind: kString, optional: true},
	"layers": {kind: kArray, object: map[string]field{
		"name": {kind: kString}, "type": {kind: kString}, "in": {kind: kString}, "out": {kind: kString},
		"params": {kind: kInt}, "macs": {kind: kInt}, "math": {kind: kString, optional: true},
		"forward":  {kind: kObject, object: phaseSchema},
		"backward": {kind: kObject, nullable: true, object: phaseSchema},
		"total_ms": {kind: kNumber}, "share": {kind: kNumber},
	}},
	"step": {kind: kObject, object: map[string]field{
		"what": {kind: kString}, "median_ms": {kind: kNumber}, "p10_ms": {kind: kNumber}, "p90_ms": {kind: kNumber},
		"layers_sum_ms": {kind: kNumber}, "overhead_ms": {kind: kNumber}, "loss_ms": {kind: kNumber},
		"update_ms": {kind: kNumber}, "other_ms": {kind: kNumber}, "note": {kind: kString},
		"host_enqueue": {kind: kObject, optional: true, object: map[string]field{
			"eager_us": {kind: kNumber, nullable: true}, "replay_us": {kind: kNumber, nullable: true},
			"note": {kind: kString, optional: true},
		}},
	}},
	"throughput": {kind: kObject, object: map[string]field{
		"train_images_per_s": {kind: kNumber}, "infer_images_per_s": {kind: kNumber}, "infer_ms": {kind: kNumber},
	}},
	"peaks": {kind: kObject, nullable: true, object: map[string]field{
		"device": {kind: kString}, "gflops": {kind: kNumber}, "gbps": {kind: kNumber},
		"method": {kind: kString}, "measured_at": {kind: kString},
		"tf32_gflops": {kind: kNumber, optional: true}, "tf32_method": {kind: kString, optional: true},
		"bf16_gflops": {kind: kNumber, optional: true}, "bf16_method": {kind: kString, optional: true},
	}},
}

// SchemaKeys lists every key of the schema as a dotted path
// ("layers[].forward.median_ms"), sorted: what docs/bench-schema.md documents.
func SchemaKeys() []string {
	var keys []string
	var walk func(prefix string, obj map[string]field)
	walk = func(prefix string, obj map[string]field) {
		for k, f := range obj {
			p := prefix + k
			if f.kind == kArray {
				p += "[]"
			}
			keys = append(keys, p)
			if f.object != nil {
				walk(p+".", f.object)
			}
		}
	}
	walk("", reportSchema)
	sort.Strings(keys)
	return keys
}

// Validate checks that data is one JSON report of this schema: every
// required key present with its type (unknown keys are allowed, so newer
// minor additions still validate), the schema name and version, and a mode
// of train or infer. It returns all problems found, one per line.
func Validate(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("validate bench report: %w", err)
	}
	var probs []string
	check(&probs, "", v, field{kind: kObject, object: reportSchema})
	if obj, ok := v.(map[string]any); ok {
		if s, _ := obj["schema"].(string); s != SchemaName {
			probs = append(probs, fmt.Sprintf("schema is %q, want %q", obj["schema"], SchemaName))
		}
		if n, _ := obj["schema_version"].(float64); n != SchemaVersion {
			probs = append(probs, fmt.Sprintf("schema_version is %v, want %d", obj["schema_version"], SchemaVersion))
		}
		if m, _ := obj["mode"].(string); m != "train" && m != "infer" {
			probs = append(probs, fmt.Sprintf("mode is %q, want train or infer", obj["mode"]))
		}
		if p, ok := obj["precision"].(string); ok && p != "fp32" && p != "tf32" && p != "bf16" {
			probs = append(probs, fmt.Sprintf("precision is %q, want fp32, tf32 or bf16", p))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("validate bench report:\n  %s", strings.Join(probs, "\n  "))
	}
	return nil
}

func check(probs *[]string, path string, v any, f field) {
	where := path
	if where == "" {
		where = "report"
	}
	if v == nil {
		if !f.nullable {
			*probs = append(*probs, fmt.Sprintf("%s: null, want %s", where, f.kind))
		}
		return
	}
	bad := func(got string) { *probs = append(*probs, fmt.Sprintf("%s: %s, want %s", where, got, f.kind)) }
	switch f.kind {
	case kString:
		if _, ok := v.(string); !ok {
			bad(fmt.Sprintf("%T", v))
		}
	case kInt, kNumber:
		n, ok := v.(float64)
		if !ok {
			bad(fmt.Sprintf("%T", v))
		} else if f.kind == kInt && n != float64(int64(n)) {
			bad(fmt.Sprint(n))
		}
	case kObject:
		obj, ok := v.(map[string]any)
		if !ok {
			bad(fmt.Sprintf("%T", v))
			return
		}
		keys := make([]string, 0, len(f.object))
		for k := range f.object {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			sub, ok := obj[k]
			if !ok && f.object[k].optional {
				continue
			}
			if !ok {
				*probs = append(*probs, p+": missing")
				continue
			}
			check(probs, p, sub, f.object[k])
		}
	case kArray:
		arr, ok := v.([]any)
		if !ok {
			bad(fmt.Sprintf("%T", v))
			return
		}
		for i, item := range arr {
			check(probs, fmt.Sprintf("%s[%d]", path, i), item, field{kind: kObject, object: f.object})
		}
	}
}
