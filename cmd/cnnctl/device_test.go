package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/gpu"
)

// TestDeviceKernels: `cnnctl device --kernels` lists the whole registry,
// as a table and as JSON, each kernel with a status that says why it is
// not loaded here (this machine has no GPU, or this build no CUDA).
func TestDeviceKernels(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"device", "--kernels", "--json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep struct {
		Kernels []struct {
			Op, Slot, Variant, DType, Math, Name, Status string
			MinSM                                        int `json:"min_sm"`
		}
		KernelsNote string `json:"kernels_note"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Kernels) != len(gpu.Kernels()) || rep.KernelsNote == "" {
		t.Fatalf("%d kernels (registry %d), note %q", len(rep.Kernels), len(gpu.Kernels()), rep.KernelsNote)
	}
	_, noGPU := gpu.Devices()
	tf32, bf16 := false, false
	for _, k := range rep.Kernels {
		if k.Op == "" || k.DType == "" || k.Math == "" || k.MinSM == 0 || k.Status == "" {
			t.Errorf("incomplete row %+v", k)
		}
		if !gpu.Built && k.Status != "not built" {
			t.Errorf("%s: status %q in a build without CUDA", k.Name, k.Status)
		}
		if gpu.Built && noGPU != nil && k.Status != "not loaded" {
			t.Errorf("%s: status %q without a GPU", k.Name, k.Status)
		}
		tf32 = tf32 || k.Name == "conv2d_forward_tf32" && k.Math == "tf32" && k.MinSM == 80
		bf16 = bf16 || k.Name == "conv2d_forward_bf16" && k.Math == "bf16" && k.DType == "f32" && k.MinSM == 80
	}
	if !tf32 {
		t.Error("conv2d_forward_tf32 (tf32, sm_80) not listed")
	}
	if !bf16 {
		t.Error("conv2d_forward_bf16 (f32 storage, bf16 math, sm_80) not listed")
	}
	out.Reset()
	if code := run([]string{"device", "--kernels"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"OP  ", "VARIANT", "MIN SM", "conv2d_backward_filter_tf32", "conv2d_backward_filter_bf16", "cast_f32_bf16", rep.KernelsNote} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("device --kernels lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"device", "--json"}, nil, &out, &errOut); code != 0 || strings.Contains(out.String(), `"kernels"`) {
		t.Errorf("device --json without --kernels: exit %d, lists kernels: %v", code, strings.Contains(out.String(), `"kernels"`))
	}
}
