package tensortest

import (
	"fmt"
	"math/rand/v2"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Gather is one geometry of the held data set's cases (tensor.DataSet):
// N images (C,H,W) with crop padding Pad, epoch tables drawn at random
// (a permutation, every offset and both flips), and batch At of batch
// size Batch, of Rows images (Rows < Batch: an epoch's last batch).
type Gather struct {
	N, C, H, W, Pad int
	Batch, Rows, At int
}

// GatherGeometries are the held-set cases: one 1x1 image, CIFAR and MNIST
// sizes with full and short last batches, odd sizes, padding as large as
// the image, a large image.
func GatherGeometries() []Gather {
	return []Gather{
		{N: 1, C: 1, H: 1, W: 1, Batch: 1, Rows: 1},
		{N: 300, C: 3, H: 32, W: 32, Pad: 4, Batch: 128, Rows: 128, At: 1},
		{N: 300, C: 3, H: 32, W: 32, Pad: 4, Batch: 128, Rows: 44, At: 2},
		{N: 70, C: 1, H: 28, W: 28, Pad: 2, Batch: 32, Rows: 32, At: 1},
		{N: 70, C: 1, H: 28, W: 28, Batch: 32, Rows: 6, At: 2},
		{N: 13, C: 3, H: 7, W: 9, Pad: 7, Batch: 5, Rows: 3, At: 2},
		{N: 4, C: 3, H: 96, W: 96, Pad: 4, Batch: 3, Rows: 1, At: 1},
	}
}

func (g Gather) String() string {
	return fmt.Sprintf("N%d C%d %dx%d pad%d batch%d rows%d at%d", g.N, g.C, g.H, g.W, g.Pad, g.Batch, g.Rows, g.At)
}

// Draw returns the geometry's data set and epoch tables, the same on
// every call: images (N,C,H,W), labels (N) below 1000, order (N) a
// permutation, crops (N,3), and the parameters (mean and std per channel).
func (g Gather) Draw() (images []uint8, labels, order, crops []int32, p tensor.DataParams) {
	r := rand.New(rand.NewPCG(uint64(g.N*1000+g.H), uint64(g.Pad*100+g.Rows)))
	images = make([]uint8, g.N*g.C*g.H*g.W)
	for i := range images {
		images[i] = uint8(r.IntN(256))
	}
	labels, order, crops = make([]int32, g.N), make([]int32, g.N), make([]int32, 3*g.N)
	for i := range labels {
		labels[i] = int32(r.IntN(1000))
		order[i] = int32(i)
		crops[3*i], crops[3*i+1], crops[3*i+2] = int32(r.IntN(2*g.Pad+1)), int32(r.IntN(2*g.Pad+1)), int32(r.IntN(2))
	}
	r.Shuffle(g.N, func(i, j int) { order[i], order[j] = order[j], order[i] })
	p = tensor.DataParams{N: g.N, C: g.C, H: g.H, W: g.W, Pad: g.Pad, Mean: make([]float32, g.C), Std: make([]float32, g.C)}
	for k := range g.C {
		p.Mean[k], p.Std[k] = 0.2+0.3*r.Float32(), 0.1+0.3*r.Float32()
	}
	return images, labels, order, crops, p
}

// Case is the geometry's shared case: the set held, the tables set, batch
// At gathered into x (Rows,C,H,W) and y (Rows), which must equal the
// reference bit for bit. A backend without tensor.DataHolder writes
// nothing, and fails on the NaN outputs.
func (g Gather) Case() Case {
	return Case{Op: "Gather", Name: g.String(),
		Args: []Arg{with(in("at", 1), constant(float32(g.At))), out("x", g.Rows, g.C, g.H, g.W), out("y", g.Rows)},
		Run: func(be tensor.Backend, t Tensors) {
			holder, ok := be.(tensor.DataHolder)
			if !ok {
				return
			}
			images, labels, order, crops, p := g.Draw()
			set, err := holder.HoldData(images, labels, p)
			if err != nil {
				return
			}
			defer set.Free()
			set.SetEpoch(order, crops)
			set.Gather(t["x"], t["y"], t["at"], g.Batch)
		},
		Extra: sameBits}
}

func gatherCases() []Case {
	var cs []Case
	for _, g := range GatherGeometries() {
		cs = append(cs, g.Case())
	}
	return cs
}
