package bench

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/plan"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// fusedCalls is the CPU backend counting its fused ops' calls.
type fusedCalls struct {
	*cpu.Backend
	bnrTrain, bnrInfer, epilogue, convBNTrain, convBNInfer int
}

func (f *fusedCalls) ConvBatchNormForwardTrain(x, w, b, y *tensor.Tensor, p tensor.ConvParams, bn tensor.BatchNormTrain, relu bool) {
	f.convBNTrain++
	f.Backend.ConvBatchNormForwardTrain(x, w, b, y, p, bn, relu)
}

func (f *fusedCalls) Conv2DBatchNormInfer(x, w, b, y *tensor.Tensor, p tensor.ConvParams, g, beta, rm, rv *tensor.Tensor, bp tensor.BatchNormParams, relu bool) {
	f.convBNInfer++
	f.Backend.Conv2DBatchNormInfer(x, w, b, y, p, g, beta, rm, rv, bp, relu)
}

func (f *fusedCalls) BatchNormReLUForwardTrain(x, g, b, rm, rv, y, sm, si *tensor.Tensor, p tensor.BatchNormParams) {
	f.bnrTrain++
	f.Backend.BatchNormReLUForwardTrain(x, g, b, rm, rv, y, sm, si, p)
}

func (f *fusedCalls) BatchNormReLUForwardInfer(x, g, b, rm, rv, y *tensor.Tensor, p tensor.BatchNormParams) {
	f.bnrInfer++
	f.Backend.BatchNormReLUForwardInfer(x, g, b, rm, rv, y, p)
}

func (f *fusedCalls) Conv2DForwardEpilogue(x, w, b, y *tensor.Tensor, p tensor.ConvParams, e tensor.Epilogue) {
	f.epilogue++
	f.Backend.Conv2DForwardEpilogue(x, w, b, y, p, e)
}

// TestFusedRows: bench runs the model compiled, as training does. The step
// (and the inference forwards) call the fused ops, once per fused node and
// run (counted through the backend), and none with CNNCTL_FUSE=0. Each
// fused node the plan makes is one row, labelled by its first part and the
// last part's name ("layer1.0.bn1+relu"), of the fused type, where its
// first part's row was; its parts have no rows, nor has the post ReLU of a
// residual+relu (its work is in the block, outside the leaf rows); every
// other row is the unfused run's. A fused row's FLOPs, bytes and
// parameters are the sums of its parts' rows in the unfused run. The JSON
// validates and the step adds up. With the conv2d+batchnorm rewrite
// (convBN, CNNCTL_FUSE_CONVBN) a convolution, its batch norm and ReLU are
// one node: its training forwards call ConvBatchNormForwardTrain, its
// evaluation forwards (an evaluation plan's, or a training plan's
// inference timing) Conv2DBatchNormInfer; without it a training plan
// fuses the batch norm and ReLU alone.
func TestFusedRows(t *testing.T) {
	for _, c := range []struct {
		model, mode string
		patterns    []string // the fused leaf nodes expected
		convBN      bool     // CNNCTL_FUSE_CONVBN on
	}{
		{"resnet", "train", []string{"batchnorm+relu"}, false},
		{"resnet", "train", []string{"conv2d+batchnorm+relu", "conv2d+batchnorm"}, true},
		{"resnet", "infer", []string{"conv2d+batchnorm+relu", "conv2d+batchnorm"}, true},
		{"resnet", "infer", []string{"batchnorm+relu"}, false},
		{"lenet", "infer", []string{"conv2d+relu"}, false},
	} {
		t.Run(fmt.Sprintf("%s/%s/convbn=%v", c.model, c.mode, c.convBN), func(t *testing.T) {
			spec, err := zoo.Load(c.model)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Batch: 2, Iters: 2, Warmup: 1, Mode: c.mode, Seed: 1}
			if !c.convBN {
				t.Setenv("CNNCTL_FUSE_CONVBN", "0")
			}
			t.Setenv("CNNCTL_FUSE", "0")
			plain := &fusedCalls{Backend: cpu.New()}
			u, err := Run(spec, plain, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if plain.bnrTrain+plain.bnrInfer+plain.epilogue+plain.convBNTrain+plain.convBNInfer != 0 {
				t.Errorf("with CNNCTL_FUSE=0 the fused ops ran: %+v", *plain)
			}
			t.Setenv("CNNCTL_FUSE", "1")
			be := &fusedCalls{Backend: cpu.New()}
			r, err := Run(spec, be, cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkStep(t, r)
			validTable(t, r)

			// The fusions a plan makes of this model, by name.
			m, err := zoo.Build(spec, cpu.New(), nil, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			p, err := plan.Describe(m, cfg.Batch, c.mode == "train", plan.Options{Fuse: true, ConvBN: c.convBN})
			if err != nil {
				t.Fatal(err)
			}
			fused := map[string]plan.Fusion{} // first part -> fusion
			gone := map[string]bool{}         // rows that must not be there
			leaf := map[string]int{}          // fused leaf nodes by pattern
			for _, f := range p.Fusions {
				switch f.Pattern {
				case "residual+relu":
					gone[f.Layers[1]+"#2"] = true // resnet's post ReLU, the second call of the block's relu
				default:
					fused[f.Layers[0]] = f
					for _, part := range f.Layers {
						gone[part] = true
					}
					leaf[f.Pattern]++
				}
			}
			if len(leaf) == 0 {
				t.Fatalf("no fused leaf node in %s:\n%s", c.model, p)
			}

			// Every fused node ran as the fused op on every forward.
			runs := cfg.Warmup + cfg.Iters // the step's (or inference's) timing
			// Training forwards run each batchnorm+relu and conv2d+batchnorm
			// node's training op, the inference timing their evaluation
			// ops; an evaluation plan runs each node's evaluation op.
			convBN := leaf["conv2d+batchnorm"] + leaf["conv2d+batchnorm+relu"]
			if c.convBN != (convBN > 0) {
				t.Errorf("convBN %v: the plan made %d conv2d+batchnorm nodes", c.convBN, convBN)
			}
			if c.mode == "train" {
				if want := (runs + cfg.Iters) * leaf["batchnorm+relu"]; be.bnrTrain != want { // + the per-layer run
					t.Errorf("fused batch norm in training ran %d times, want %d", be.bnrTrain, want)
				}
				if want := runs * leaf["batchnorm+relu"]; be.bnrInfer != want { // the inference timing
					t.Errorf("fused batch norm in inference ran %d times, want %d", be.bnrInfer, want)
				}
				if want := (runs + cfg.Iters) * convBN; be.convBNTrain != want {
					t.Errorf("conv2d+batchnorm in training ran %d times, want %d", be.convBNTrain, want)
				}
				if want := runs * convBN; be.convBNInfer != want {
					t.Errorf("conv2d+batchnorm in inference ran %d times, want %d", be.convBNInfer, want)
				}
			} else {
				if want := (runs + cfg.Iters) * leaf["conv2d+relu"]; be.epilogue != want {
					t.Errorf("fused convolution ran %d times, want %d", be.epilogue, want)
				}
				if want := (runs + cfg.Iters) * convBN; be.convBNInfer != want {
					t.Errorf("fused convolution and batch norm ran %d times, want %d", be.convBNInfer, want)
				}
				if want := (runs + cfg.Iters) * leaf["batchnorm+relu"]; be.bnrInfer != want {
					t.Errorf("fused batch norm ran %d times, want %d", be.bnrInfer, want)
				}
				if be.convBNTrain != 0 {
					t.Errorf("an evaluation plan ran conv2d+batchnorm's training op %d times", be.convBNTrain)
				}
			}

			urows := map[string]Layer{}
			for _, l := range u.Layers {
				urows[l.Name] = l
			}
			var want []string
			for _, l := range u.Layers {
				if f, ok := fused[l.Name]; ok {
					last := f.Layers[len(f.Layers)-1]
					want = append(want, l.Name+"+"+last[strings.LastIndex(last, ".")+1:])
				} else if !gone[l.Name] {
					want = append(want, l.Name)
				}
			}
			var got []string
			for _, l := range r.Layers {
				got = append(got, l.Name)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("rows\n%v\nwant\n%v", got, want)
			}
			for _, l := range r.Layers {
				f, ok := fused[strings.SplitN(l.Name, "+", 2)[0]]
				if !ok {
					o := urows[l.Name]
					if l.Type != o.Type || l.Forward.FLOPs != o.Forward.FLOPs || l.Forward.Bytes != o.Forward.Bytes || l.Params != o.Params {
						t.Errorf("%s: %s %d FLOPs %d bytes %d params, unfused %s %d %d %d", l.Name, l.Type, l.Forward.FLOPs, l.Forward.Bytes, l.Params, o.Type, o.Forward.FLOPs, o.Forward.Bytes, o.Params)
					}
					continue
				}
				if l.Type != f.Pattern || !slices.Contains(c.patterns, l.Type) {
					t.Errorf("%s: type %q, want %q (one of %v)", l.Name, l.Type, f.Pattern, c.patterns)
				}
				// The sums over the parts' rows in the unfused run.
				var sum Layer
				if c.mode == "train" {
					sum.Backward = &Phase{}
				}
				for _, part := range f.Layers {
					o := urows[part]
					sum.MACs += o.MACs
					sum.Params += o.Params
					sum.Forward.FLOPs += o.Forward.FLOPs
					sum.Forward.Bytes += o.Forward.Bytes
					if sum.Backward != nil {
						sum.Backward.FLOPs += o.Backward.FLOPs
						sum.Backward.Bytes += o.Backward.Bytes
					}
				}
				first, last := urows[f.Layers[0]], urows[f.Layers[len(f.Layers)-1]]
				if l.In != first.In || l.Out != last.Out || l.MACs != sum.MACs || l.Params != sum.Params {
					t.Errorf("%s: %s -> %s, %d MACs, %d params; parts %s -> %s, %d MACs, %d params",
						l.Name, l.In, l.Out, l.MACs, l.Params, first.In, last.Out, sum.MACs, sum.Params)
				}
				if l.Forward.FLOPs != sum.Forward.FLOPs || l.Forward.Bytes != sum.Forward.Bytes || l.Forward.FLOPs == 0 {
					t.Errorf("%s: forward %d FLOPs %d bytes, parts %d FLOPs, %d bytes", l.Name,
						l.Forward.FLOPs, l.Forward.Bytes, sum.Forward.FLOPs, sum.Forward.Bytes)
				}
				if c.mode == "train" && (l.Backward == nil || l.Backward.FLOPs != sum.Backward.FLOPs || l.Backward.Bytes != sum.Backward.Bytes) {
					t.Errorf("%s: backward %+v, parts %+v", l.Name, l.Backward, sum.Backward)
				}
				if l.Forward.MedianMS <= 0 {
					t.Errorf("%s: forward median %g ms: the fused node was not timed", l.Name, l.Forward.MedianMS)
				}
			}
		})
	}
}
