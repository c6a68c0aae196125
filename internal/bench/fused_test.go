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
	bnrTrain, bnrInfer, epilogue, convBN int
}

func (f *fusedCalls) BatchNormReLUForwardTrain(x, g, b, rm, rv, y, sm, si *tensor.Tensor, p tensor.BatchNormParams) {
	f.bnrTrain++
	f.Backend.BatchNormReLUForwardTrain(x, g, b, rm, rv, y, sm, si, p)
}

func (f *fusedCalls) BatchNormReLUForwardInfer(x, g, b, rm, rv, y *tensor.Tensor, p tensor.BatchNormParams) {
	f.bnrInfer++
	f.Backend.BatchNormReLUForwardInfer(x, g, b, rm, rv, y, p)
}

func (f *fusedCalls) ConvBatchNormForwardTrain(x, w, b, y *tensor.Tensor, p tensor.ConvParams, bn tensor.BatchNormTrain, relu bool) {
	f.convBN++
	f.Backend.ConvBatchNormForwardTrain(x, w, b, y, p, bn, relu)
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
// (convBN) the training forwards call ConvBatchNormForwardTrain once per
// such node, and the inference forwards the batch norm (+ReLU) of each.
func TestFusedRows(t *testing.T) {
	for _, c := range []struct {
		model, mode string
		pattern     string // the fused leaf nodes expected (their types' prefix)
		convBN      bool   // CNNCTL_FUSE_CONVBN on
	}{
		{"resnet", "train", "batchnorm+relu", false},
		{"resnet", "train", "conv2d+batchnorm", true},
		{"lenet", "infer", "conv2d+relu", true},
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
			if plain.bnrTrain+plain.bnrInfer+plain.epilogue+plain.convBN != 0 {
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
			leaf, relus := 0, 0               // fused leaf nodes, those ending in a ReLU
			for _, f := range p.Fusions {
				switch f.Pattern {
				case "residual+relu":
					gone[f.Layers[1]+"#2"] = true // resnet's post ReLU, the second call of the block's relu
				default:
					fused[f.Layers[0]] = f
					for _, l := range f.Layers {
						gone[l] = true
					}
					leaf++
					if strings.HasSuffix(f.Pattern, "+relu") {
						relus++
					}
				}
			}
			if leaf == 0 {
				t.Fatalf("no fused leaf node in %s:\n%s", c.model, p)
			}

			// Every fused node ran as the fused op on every forward.
			runs := cfg.Warmup + cfg.Iters // the step's (or inference's) timing
			trainOps, inferOps := be.bnrTrain, be.bnrInfer
			if c.convBN {
				trainOps = be.convBN // the batch norm's inference is then plain without a ReLU
				leaf, inferOps = relus, be.bnrInfer
				if be.bnrTrain != 0 {
					t.Errorf("batchnorm+relu ran %d times in training beside conv2d+batchnorm", be.bnrTrain)
				}
			}
			if c.mode == "train" {
				if want := (runs + cfg.Iters) * len(fused); trainOps != want { // + the per-layer run
					t.Errorf("fused ops in training ran %d times, want %d", trainOps, want)
				}
				if want := runs * leaf; inferOps != want { // the inference timing
					t.Errorf("fused batch norm in inference ran %d times, want %d", inferOps, want)
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
				// The parts' sums.
				var sum Layer
				sum.Backward = &Phase{}
				for _, name := range f.Layers {
					o := urows[name]
					sum.MACs += o.MACs
					sum.Params += o.Params
					sum.Forward.FLOPs += o.Forward.FLOPs
					sum.Forward.Bytes += o.Forward.Bytes
					if o.Backward != nil {
						sum.Backward.FLOPs += o.Backward.FLOPs
						sum.Backward.Bytes += o.Backward.Bytes
					}
				}
				a, b := urows[f.Layers[0]], urows[f.Layers[len(f.Layers)-1]]
				if l.Type != f.Pattern || !strings.HasPrefix(l.Type, c.pattern) {
					t.Errorf("%s: type %q, want %q", l.Name, l.Type, f.Pattern)
				}
				if l.In != a.In || l.Out != b.Out || l.MACs != sum.MACs || l.Params != sum.Params {
					t.Errorf("%s: %s -> %s, %d MACs, %d params; parts %s -> %s, %d MACs, %d params",
						l.Name, l.In, l.Out, l.MACs, l.Params, a.In, b.Out, sum.MACs, sum.Params)
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
