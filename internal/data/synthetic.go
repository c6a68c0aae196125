package data

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Synthetic defaults: 3x32x32 images, 10 classes, 1024 train and 256 test.
const (
	syntheticTrain   = 1024
	syntheticTest    = 256
	syntheticClasses = 10
)

// openSynthetic makes a seeded, learnable random data set: each class has a
// random template image, and each image is its class's template plus uniform
// noise of ±64. shape is "" or CxHxW.
func openSynthetic(shape string, opts Options) (*Dataset, error) {
	c, h, w := 3, 32, 32
	if shape != "" {
		dims := strings.Split(strings.ToLower(shape), "x")
		if len(dims) != 3 {
			return nil, fmt.Errorf("synthetic shape %q: want CxHxW, e.g. 3x32x32", shape)
		}
		var v [3]int
		for i, s := range dims {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 || n > 4096 {
				return nil, fmt.Errorf("synthetic shape %q: %q is not a size in 1..4096", shape, s)
			}
			v[i] = n
		}
		c, h, w = v[0], v[1], v[2]
		if c > 4 {
			return nil, fmt.Errorf("synthetic shape %q: at most 4 channels", shape)
		}
	}
	ntrain, ntest, k := opts.SyntheticTrain, opts.SyntheticTest, opts.SyntheticClasses
	if ntrain <= 0 {
		ntrain = syntheticTrain
	}
	if ntest <= 0 {
		ntest = syntheticTest
	}
	if k <= 0 {
		k = syntheticClasses
	}
	seed := uint64(opts.Seed)
	if opts.Seed == 0 {
		seed = 1
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	chw := c * h * w
	templates := make([]uint8, k*chw)
	for i := range templates {
		templates[i] = uint8(64 + rng.IntN(128))
	}
	gen := func(n int) *Split {
		s := &Split{N: n, C: c, H: h, W: w, Pixels: make([]uint8, n*chw), Labels: make([]int32, n)}
		for i := range n {
			l := i % k
			s.Labels[i] = int32(l)
			t := templates[l*chw : (l+1)*chw]
			px := s.Pixels[i*chw : (i+1)*chw]
			for j := range px {
				px[j] = uint8(int(t[j]) + rng.IntN(129) - 64)
			}
		}
		return s
	}
	d := &Dataset{Train: gen(ntrain), Test: gen(ntest)}
	for i := range k {
		d.Classes = append(d.Classes, fmt.Sprintf("class%d", i))
	}
	return d, nil
}
