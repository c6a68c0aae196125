package bench

import (
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
	bnrTrain, bnrInfer, epilogue int
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
// validates and the step adds up.
func TestFusedRows(t *testing.T) {
	for _, c := range []struct {
		model, mode string
		pattern     string // the fused leaf nodes expected
	}{
		{"resnet", "train", "batchnorm+relu"},
		{"lenet", "infer", "conv2d+relu"},
	} {
		t.Run(c.model+"/"+c.mode, func(t *testing.T) {
			spec, err := zoo.Load(c.model)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Batch: 2, Iters: 2, Warmup: 1, Mode: c.mode, Seed: 1}
			t.Setenv("CNNCTL_FUSE", "0")
			plain := &fusedCalls{Backend: cpu.New()}
			u, err := Run(spec, plain, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if plain.bnrTrain+plain.bnrInfer+plain.epilogue != 0 {
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
			p, err := plan.Describe(m, cfg.Batch, c.mode == "train", plan.Options{Fuse: true})
			if err != nil {
				t.Fatal(err)
			}
			fused := map[string]plan.Fusion{} // first part -> fusion
			gone := map[string]bool{}         // rows that must not be there
			leaf := 0
			for _, f := range p.Fusions {
				switch f.Pattern {
				case "residual+relu":
					gone[f.Layers[1]+"#2"] = true // resnet's post ReLU, the second call of the block's relu
				default:
					fused[f.Layers[0]] = f
					gone[f.Layers[0]], gone[f.Layers[1]] = true, true
					leaf++
				}
			}
			if leaf == 0 {
				t.Fatalf("no fused leaf node in %s:\n%s", c.model, p)
			}

			// Every fused node ran as the fused op on every forward.
			runs := cfg.Warmup + cfg.Iters // the step's (or inference's) timing
			if c.mode == "train" {
				if want := (runs + cfg.Iters) * leaf; be.bnrTrain != want { // + the per-layer run
					t.Errorf("fused batch norm in training ran %d times, want %d", be.bnrTrain, want)
				}
				if want := runs * leaf; be.bnrInfer != want { // the inference timing
					t.Errorf("fused batch norm in inference ran %d times, want %d", be.bnrInfer, want)
				}
			} else if want := (runs + cfg.Iters) * leaf; be.epilogue != want {
				t.Errorf("fused convolution ran %d times, want %d", be.epilogue, want)
			}

			urows := map[string]Layer{}
			for _, l := range u.Layers {
				urows[l.Name] = l
			}
			var want []string
			for _, l := range u.Layers {
				if f, ok := fused[l.Name]; ok {
					want = append(want, l.Name+"+"+f.Layers[1][strings.LastIndex(f.Layers[1], ".")+1:])
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
				a, b := urows[f.Layers[0]], urows[f.Layers[1]]
				if l.Type != f.Pattern || l.Type != c.pattern {
					t.Errorf("%s: type %q, want %q", l.Name, l.Type, f.Pattern)
				}
				if l.In != a.In || l.Out != b.Out || l.MACs != a.MACs+b.MACs || l.Params != a.Params+b.Params {
					t.Errorf("%s: %s -> %s, %d MACs, %d params; parts %s -> %s, %d + %d MACs, %d + %d params",
						l.Name, l.In, l.Out, l.MACs, l.Params, a.In, b.Out, a.MACs, b.MACs, a.Params, b.Params)
				}
				if l.Forward.FLOPs != a.Forward.FLOPs+b.Forward.FLOPs || l.Forward.Bytes != a.Forward.Bytes+b.Forward.Bytes || l.Forward.FLOPs == 0 {
					t.Errorf("%s: forward %d FLOPs %d bytes, parts %d + %d FLOPs, %d + %d bytes", l.Name,
						l.Forward.FLOPs, l.Forward.Bytes, a.Forward.FLOPs, b.Forward.FLOPs, a.Forward.Bytes, b.Forward.Bytes)
				}
				if c.mode == "train" && (l.Backward == nil || l.Backward.FLOPs != a.Backward.FLOPs+b.Backward.FLOPs || l.Backward.Bytes != a.Backward.Bytes+b.Backward.Bytes) {
					t.Errorf("%s: backward %+v, parts %+v and %+v", l.Name, l.Backward, a.Backward, b.Backward)
				}
				if l.Forward.MedianMS <= 0 {
					t.Errorf("%s: forward median %g ms: the fused node was not timed", l.Name, l.Forward.MedianMS)
				}
			}
		})
	}
}
