package layers

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestConvBatchNormNode runs conv, BN (, ReLU) as the plain layers and as
// a ConvBatchNorm node over the same layers (with and without the ReLU):
// an evaluation forward (the fused op) and a backward after it (which
// reruns the plain evaluation forwards), then a training forward and
// backward, comparing every output, input gradient and parameter
// gradient bit for bit.
func TestConvBatchNormNode(t *testing.T) {
	for _, withReLU := range []bool{true, false} {
		kids := []Layer{conv("c", 6, 3, 3, 1, 1, true), NewBatchNorm("bn", tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5})}
		if withReLU {
			kids = append(kids, NewActivation("relu", tensor.ReLU))
		}
		m := build(t, NewSequential("s", kids...), tensor.Shape{3, 9, 9})
		var relu *Activation
		if withReLU {
			relu = kids[2].(*Activation)
		}
		node := FuseConvBatchNorm(kids[0].(*Conv2D), kids[1].(*BatchNorm), relu)
		be := m.Ctx.Backend
		rng := rand.New(rand.NewSource(5))
		const n = 4
		xs := make([]float32, n*3*9*9)
		uniform(rng, xs, -2, 2)
		dys := make([]float32, n*6*9*9)
		uniform(rng, dys, -1, 1)
		x, dy := be.New(tensor.Shape{n, 3, 9, 9}), be.New(tensor.Shape{n, 6, 9, 9})
		be.Upload(x, xs)
		be.Upload(dy, dys)
		type result struct{ y, dx, grads []float32 }
		step := func(l Layer, train bool) result {
			for _, p := range m.Params {
				be.Fill(p.Grad, 0)
			}
			r := result{y: download(be, l.Forward(x, train))}
			r.dx = download(be, l.Backward(dy))
			for _, p := range m.Params {
				r.grads = append(r.grads, download(be, p.Grad)...)
			}
			return r
		}
		// Evaluation first (the running statistics as initialised), then
		// training (batch statistics; each run moves the running ones).
		// Between the two, a forward on other values leaves the layers'
		// saved tensors stale: the node's backward must not use them.
		var got, want [2]result
		want[1] = step(m.Root, false)
		other := be.New(tensor.Shape{n, 3, 9, 9})
		be.Fill(other, 0.25)
		m.Root.Forward(other, false)
		got[1] = step(node, false)
		want[0], got[0] = step(m.Root, true), step(node, true)
		if err := be.Err(); err != nil {
			t.Fatal(err)
		}
		for i, what := range []string{"training", "evaluation"} {
			for _, c := range []struct {
				name string
				a, b []float32
			}{{"y", got[i].y, want[i].y}, {"dx", got[i].dx, want[i].dx}, {"grads", got[i].grads, want[i].grads}} {
				if len(c.a) != len(c.b) || len(c.a) == 0 {
					t.Fatalf("relu %t %s %s: %d values, want %d", withReLU, what, c.name, len(c.a), len(c.b))
				}
				for j := range c.a {
					if math.Float32bits(c.a[j]) != math.Float32bits(c.b[j]) {
						t.Fatalf("relu %t %s %s[%d]: node %g, layers %g", withReLU, what, c.name, j, c.a[j], c.b[j])
					}
				}
			}
		}
		if node.Type() != map[bool]string{true: "conv2d+batchnorm+relu", false: "conv2d+batchnorm"}[withReLU] {
			t.Errorf("type %q", node.Type())
		}
	}
}
