package bench

import (
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// cost is the work one leaf layer does on one batch.
type cost struct {
	fwdFLOPs, bwdFLOPs int64
	fwdBytes, bwdBytes int64
}

// layerCost counts FLOPs and bytes for one batch of n through t, whose
// layer has params trainable values, by the cost class its layer kind
// declares (zoo.CostOf; docs/bench-schema.md has the table):
//
//   - GEMM (conv2d, linear): forward 2·MACs·n (a multiply-add is two FLOPs; bias
//     adds not counted, like the MACs of `cnnctl models`); backward twice
//     the forward (the data gradient and the filter gradient are one
//     GEMM of the forward's size each; the bias gradient is not counted),
//     once the forward for the network's first convolution, which skips
//     its data gradient (bytes then leave out the input gradient too).
//   - pointwise (relu): 1 FLOP per output element forward, 1 backward;
//     transcendental (sigmoid, tanh): 4 forward (exp counted as one), 3 backward.
//   - window (maxpool2d, avgpool2d): R·S per output element forward and backward.
//   - reduce (globalavgpool): 1 per input element forward and backward.
//   - normalize (batchnorm): 7 per element forward in training (mean 1, variance 2,
//     scale and shift 4), 4 in inference, 9 backward.
//   - mask (dropout): 2 per element forward (compare, multiply; the random
//     numbers are not counted), 1 backward; move (shortcutpad, ResNet option A)
//     and layers of no known kind: 0.
//   - view (flatten): a view, no FLOPs and no bytes.
//
// Bytes count each tensor once, 4 bytes per float32: forward reads the
// input and the weights and writes the output; backward reads the input
// (or saved output), the output gradient and the weights and writes the
// input gradient and the weight gradient: 4·(2·in + out + 2·params).
func layerCost(t *Timed, n int, params int64, train bool) cost {
	in := int64(n) * int64(t.In.Numel())
	out := int64(n) * int64(t.Out.Numel())
	c := cost{
		fwdBytes: 4 * (in + params + out),
		bwdBytes: 4 * (2*in + out + 2*params),
	}
	switch zoo.CostOf(t.Type()) {
	case zoo.CostGEMM:
		c.fwdFLOPs = 2 * t.MACs() * int64(n)
		c.bwdFLOPs = 2 * c.fwdFLOPs
		// The network's first convolution computes only its weight
		// gradient: nothing needs the gradient of the images.
		if conv, ok := t.Layer.(*layers.Conv2D); ok && conv.SkipsInputGrad() {
			c.bwdFLOPs = c.fwdFLOPs
			c.bwdBytes = 4 * (in + out + 2*params)
		}
	case zoo.CostPointwise:
		c.fwdFLOPs, c.bwdFLOPs = out, out
	case zoo.CostTranscendental:
		c.fwdFLOPs, c.bwdFLOPs = 4*out, 3*out
	case zoo.CostWindow:
		rs := int64(1)
		if p, ok := t.Layer.(*layers.Pool2D); ok {
			rs = int64(p.P.R * p.P.S)
		}
		c.fwdFLOPs, c.bwdFLOPs = rs*out, rs*out
	case zoo.CostReduce:
		c.fwdFLOPs, c.bwdFLOPs = in, in
	case zoo.CostNormalize:
		c.fwdFLOPs, c.bwdFLOPs = 7*in, 9*in
		if !train {
			c.fwdFLOPs = 4 * in
		}
	case zoo.CostMask:
		c.fwdFLOPs, c.bwdFLOPs = 2*out, out
	case zoo.CostView:
		c = cost{}
	}
	return c
}

// fusedCost is the cost of t's layer on a batch of n, its trainable values
// (params by layer name) and the layer type whose arithmetic its FLOPs run
// in. A fused node (t.Parts) costs the sum of its parts' FLOPs and bytes,
// as if unfused: the bytes do not take away the intermediate tensor the
// fused op keeps from memory, so they are an upper bound of its traffic;
// its math is its first part's (a conv2d+relu's convolution).
func fusedCost(t *Timed, n int, params map[string]int64, train bool) (c cost, ps int64, typ string) {
	if len(t.Parts) == 0 {
		return layerCost(t, n, params[t.Name()], train), params[t.Name()], t.Type()
	}
	for _, p := range t.Parts {
		pc := layerCost(p, n, params[p.Name()], train)
		c.fwdFLOPs += pc.fwdFLOPs
		c.bwdFLOPs += pc.bwdFLOPs
		c.fwdBytes += pc.fwdBytes
		c.bwdBytes += pc.bwdBytes
		ps += params[p.Name()]
	}
	return c, ps, t.Parts[0].Type()
}
