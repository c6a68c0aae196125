//go:build cuda

package gpu

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// newBackend opens GPU 0, or skips the test (saying why) where there is
// none; with CNNCTL_REQUIRE_GPU=1 (scripts/gpu-check.sh run) no GPU fails.
func newBackend(t testing.TB) *Backend {
	t.Helper()
	be, err := New(0)
	if errors.Is(err, ErrNoDevice) {
		skipNoGPU(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := be.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return be
}

func skipNoGPU(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CNNCTL_REQUIRE_GPU") == "1" {
		t.Fatalf("CNNCTL_REQUIRE_GPU=1: %v", err)
	}
	t.Skip(err.Error())
}

// TestInterposer runs everywhere: this binary got to main, so cu's init did
// not exit, and without a GPU New says why.
func TestInterposer(t *testing.T) {
	err := initError()
	if err == nil {
		t.Logf("cuInit succeeded")
		return
	}
	if !errors.Is(err, ErrNoDevice) || !strings.HasPrefix(err.Error(), "no CUDA device: cuInit: ") {
		t.Fatalf("initError() = %q, want it to wrap ErrNoDevice as \"no CUDA device: cuInit: …\"", err)
	}
	if _, err2 := New(0); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("New(0) error %v, want %v", err2, err)
	}
	if _, err2 := Devices(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Devices() error %v, want %v", err2, err)
	}
	t.Logf("no GPU here, as expected: %v", err)
}

func TestOOMMessage(t *testing.T) {
	err := oomError("new 128x64x32x32", 1<<30, 1<<29, 80<<30, 3<<30, cu.OutOfMemory)
	for _, want := range []string{"asked for 1073741824 bytes", "512.0 MiB free of 81920.0 MiB", "--batch-size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if !errors.Is(err, cu.OutOfMemory) {
		t.Errorf("%v does not wrap cu.OutOfMemory", err)
	}
}

func TestKernelArgs(t *testing.T) {
	c := &call{be: &Backend{}, op: "test"}
	got := c.kernelArgs([]any{cu.DevicePtr(0x1234), -2, float32(1.5), int64(-3), uint64(1 << 40), true})
	want := []uint64{0x1234, 0xfffffffe, uint64(math.Float32bits(1.5)), math.MaxUint64 - 2, 1 << 40, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("slot %d = %#x, want %#x", i, got[i], want[i])
		}
	}
	c.kernelArgs([]any{1 << 40})
	if c.err == nil {
		t.Error("an int beyond 32 bits was accepted")
	}
}

// TestBackend checks every op against the CPU reference on the shared cases.
func TestBackend(t *testing.T) {
	tensortest.CheckBackend(t, newBackend(t))
}

func TestDevices(t *testing.T) {
	infos, err := Devices()
	if errors.Is(err, ErrNoDevice) {
		skipNoGPU(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		t.Log(in)
		if in.SMs <= 0 || in.TotalMem <= 0 || in.FreeMem <= 0 || in.Name == "" {
			t.Errorf("implausible %+v", in)
		}
	}
}

// TestPoolReuse checks that a freed buffer is handed out again.
func TestPoolReuse(t *testing.T) {
	be := newBackend(t)
	a := be.New(tensor.Shape{1000})
	p := a.Buf.(*buffer).ptr
	be.Free(a)
	b := be.New(tensor.Shape{900})
	if got := b.Buf.(*buffer).ptr; got != p {
		t.Errorf("New after Free got %v, want the freed %v", got, p)
	}
	v := make([]float32, 900)
	v[17] = 1
	be.Download(v, b)
	if v[17] != 0 {
		t.Error("a reused buffer is not zero-filled")
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestOutOfMemory asks for more than the GPU has and wants the explanation;
// then the backend must still work (an allocation that failed harmed
// nothing on the device) and Close must not return the error again.
func TestOutOfMemory(t *testing.T) {
	be := newBackend(t)
	var held []*tensor.Tensor
	for range 1000 {
		held = append(held, be.New(tensor.Shape{math.MaxInt32}))
		if be.Err() != nil {
			break
		}
	}
	err := be.Err()
	if err == nil || !strings.Contains(err.Error(), "--batch-size") {
		t.Errorf("after %d buffers of 8 GiB: err %v, want out of memory with advice", len(held), err)
	}
	t.Log(err)
	for _, h := range held[:len(held)-1] {
		be.Free(h)
	}
	x := be.New(tensor.Shape{1000})
	want := random(1000, 3)
	be.Upload(x, want)
	be.ActivationForward(tensor.ReLU, x, x)
	got := make([]float32, 1000)
	be.Download(got, x)
	if err := be.Sync(); !errors.Is(err, cu.OutOfMemory) {
		t.Errorf("Sync after the out-of-memory error: %v, want that error still reported", err)
	}
	for i, v := range want {
		if r := max(v, 0); got[i] != r {
			t.Fatalf("after out of memory, relu(%g) = %g: the backend stopped working", v, got[i])
		}
	}
}

// TestErrorReporting runs without a GPU: a failed allocation is reported
// by Err but skips no later op, an op or driver failure does, and Close
// returns an error only if nobody has been told of it yet.
func TestErrorReporting(t *testing.T) {
	b := &Backend{}
	oom := fmt.Errorf("gpu: new 8x3: out of GPU memory: %w", cu.OutOfMemory)
	b.recordAlloc(oom)
	if c := b.call("relu"); c.err != nil {
		t.Errorf("after a failed allocation an op is skipped: %v", c.err)
	}
	if err := b.Err(); err != oom {
		t.Errorf("Err() = %v, want the allocation error", err)
	}
	if err := b.closeErr(nil); err != nil {
		t.Errorf("Close returned %v again after Err had reported it", err)
	}

	b = &Backend{}
	b.recordAlloc(oom)
	if err := b.closeErr(nil); err != oom {
		t.Errorf("Close of a backend whose error nobody read = %v, want it", err)
	}

	b = &Backend{}
	bad := errors.New("gpu: sync: illegal address")
	b.record(bad)
	if c := b.call("relu"); c.err != errSkipped {
		t.Errorf("after a kernel failure an op runs (err %v)", c.err)
	}
	b.recordAlloc(oom)
	if err := b.Err(); err != bad {
		t.Errorf("Err() = %v, want the first failure %v", err, bad)
	}
	closing := errors.New("destroy context")
	if err := b.closeErr(closing); err != closing {
		t.Errorf("Close = %v, want its own failure once the first was reported", err)
	}
}

// TestDeterministic runs the split-K filter gradient twice: results must be
// bit-identical.
func TestDeterministic(t *testing.T) {
	be := newBackend(t)
	x, dy, dw := be.New(tensor.Shape{64, 16, 32, 32}), be.New(tensor.Shape{64, 32, 32, 32}), be.New(tensor.Shape{32, 16, 3, 3})
	be.Upload(x, random(x.Numel(), 1))
	be.Upload(dy, random(dy.Numel(), 2))
	p := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	first, second := make([]float32, dw.Numel()), make([]float32, dw.Numel())
	be.Conv2DBackwardFilter(x, dy, dw, nil, p)
	be.Download(first, dw)
	be.Conv2DBackwardFilter(x, dy, dw, nil, p)
	be.Download(second, dw)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if math.Float32bits(first[i]) != math.Float32bits(second[i]) {
			t.Fatalf("dw[%d] = %g then %g", i, first[i], second[i])
		}
	}
}

func random(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// BenchmarkConv2D times the three convolution kernels on a ResNet-20 layer
// (128x16x32x32, 3x3, 16 filters) and reports GFLOP/s.
func BenchmarkConv2D(b *testing.B) {
	be := newBackend(b)
	x, w, y := be.New(tensor.Shape{128, 16, 32, 32}), be.New(tensor.Shape{16, 16, 3, 3}), be.New(tensor.Shape{128, 16, 32, 32})
	p := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	flops := 2.0 * 128 * 16 * 32 * 32 * 16 * 9
	for _, bc := range []struct {
		name string
		run  func()
	}{
		{"forward", func() { be.Conv2DForward(x, w, nil, y, p) }},
		{"backward_data", func() { be.Conv2DBackwardData(y, w, x, p) }},
		{"backward_filter", func() { be.Conv2DBackwardFilter(x, y, w, nil, p) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.run()
			}
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestBatchNormOneValue wants training batch norm with one value per
// channel refused (PyTorch refuses; the unbiased variance would be 0/0).
func TestBatchNormOneValue(t *testing.T) {
	be := newBackend(t)
	x, y := be.New(tensor.Shape{1, 3}), be.New(tensor.Shape{1, 3})
	ch := func() *tensor.Tensor { return be.New(tensor.Shape{3}) }
	be.BatchNormForwardTrain(x, ch(), ch(), ch(), ch(), y, ch(), ch(), tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5})
	if err := be.Err(); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Fatalf("err %v, want a refusal of 1 value per channel", err)
	}
	be.mu.Lock()
	be.err = nil // the cleanup's Close would report it
	be.mu.Unlock()
}

// TestBackendVariants runs every registered variant of every slot that has
// several through the tensortest cases of its op, pinned with
// Options.Variants, at its math's tolerance; a variant this GPU cannot
// run skips.
func TestBackendVariants(t *testing.T) {
	sm := newBackend(t).Info().SM()
	for slot, vs := range Variants(Kernels()) {
		for _, k := range vs {
			t.Run(slot+"/"+k.Variant, func(t *testing.T) {
				if k.MinSM > sm {
					t.Skipf("%s needs sm_%d; this GPU is sm_%d", k.Name, k.MinSM, sm)
				}
				be, err := NewWith(0, Options{Variants: map[string]string{slot: k.Variant}})
				if err != nil {
					t.Fatal(err)
				}
				defer be.Close()
				if got := be.kernel(slot); got != k {
					t.Fatalf("pinned %s %s, the backend runs %+v", slot, k.Variant, got)
				}
				var cases []tensortest.Case
				for _, c := range tensortest.Cases() {
					if c.Op == k.Op {
						cases = append(cases, c)
					}
				}
				p := tensortest.FP32
				switch k.Math {
				case MathTF32:
					p = tensortest.TF32
				case MathBF16:
					p = tensortest.BF16
				}
				tensortest.CheckCasesPrecision(t, be, cases, p)
			})
		}
	}
}

// TestDTypes: the GPU refuses bf16 tensors in every op but Cast and the
// copies, naming the op and the dtype.
func TestDTypes(t *testing.T) {
	newBackend(t) // skips without a GPU
	tensortest.CheckDTypes(t, func() tensor.Backend { return newBackend(t) })
}
