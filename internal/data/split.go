package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
)

// ValSplit holds out a seeded, class-balanced fraction of s for validation:
// round(frac*n) of the n images of each class go to val, the rest to train;
// both keep the images in their original order.
func ValSplit(s *Split, frac float64, seed int64) (train, val *Split, err error) {
	if s == nil || s.N == 0 {
		return nil, nil, fmt.Errorf("val split: empty split")
	}
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("val split: fraction %g not in (0,1)", frac)
	}
	byClass := map[int32][]int{}
	for i, l := range s.Labels {
		byClass[l] = append(byClass[l], i)
	}
	labels := make([]int32, 0, len(byClass))
	for l := range byClass {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool { return labels[i] < labels[j] })
	inVal := make([]bool, s.N)
	for _, l := range labels {
		idx := byClass[l]
		k := int(math.Round(frac * float64(len(idx))))
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(l)+0x9e3779b97f4a7c15))
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx[:k] {
			inVal[i] = true
		}
	}
	var ti, vi []int
	for i, v := range inVal {
		if v {
			vi = append(vi, i)
		} else {
			ti = append(ti, i)
		}
	}
	if len(vi) == 0 || len(ti) == 0 {
		return nil, nil, fmt.Errorf("val split: fraction %g of %d images leaves %d for train and %d for val", frac, s.N, len(ti), len(vi))
	}
	return s.Subset(ti), s.Subset(vi), nil
}

// SplitInfo describes one split for `cnnctl data info`.
type SplitInfo struct {
	Name   string    `json:"name"`
	N      int       `json:"n"`
	C      int       `json:"c"`
	H      int       `json:"h"`
	W      int       `json:"w"`
	Counts []int     `json:"counts"` // images per class
	Mean   []float64 `json:"mean"`   // per channel, pixel/255 units
	Std    []float64 `json:"std"`
}

// Info describes a data set.
type Info struct {
	Kind    string      `json:"kind"`
	Name    string      `json:"name"`
	Path    string      `json:"path,omitempty"`
	Classes []string    `json:"classes"`
	Splits  []SplitInfo `json:"splits"`
	// DefaultMean and DefaultStd are the normalisation a loader uses by default.
	DefaultMean []float32 `json:"default_mean"`
	DefaultStd  []float32 `json:"default_std"`
}

// Info computes per-split statistics: counts per class, shape, and
// per-channel pixel mean and std in [0,1] units.
func (d *Dataset) Info() Info {
	in := Info{Kind: d.Kind, Name: d.Name, Path: d.Path, Classes: d.Classes, DefaultMean: d.Mean, DefaultStd: d.Std}
	if d.Train.N > 0 || d.Test == nil {
		in.Splits = append(in.Splits, d.Train.Stats("train", len(d.Classes)))
	}
	if d.Test != nil {
		in.Splits = append(in.Splits, d.Test.Stats("test", len(d.Classes)))
	}
	return in
}

// Stats computes a split's statistics; numClasses sizes Counts.
func (s *Split) Stats(name string, numClasses int) SplitInfo {
	si := SplitInfo{Name: name, N: s.N, C: s.C, H: s.H, W: s.W, Counts: make([]int, numClasses)}
	for _, l := range s.Labels {
		if int(l) < numClasses && l >= 0 {
			si.Counts[l]++
		}
	}
	hw := s.H * s.W
	sum := make([]uint64, s.C)
	sq := make([]uint64, s.C)
	// Per image, in parallel: exact integer sums.
	workers := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls, lq := make([]uint64, s.C), make([]uint64, s.C)
			for i := w; i < s.N; i += workers {
				img := s.Image(i)
				for c := range s.C {
					var a, b uint64
					for _, p := range img[c*hw : (c+1)*hw] {
						a += uint64(p)
						b += uint64(p) * uint64(p)
					}
					ls[c] += a
					lq[c] += b
				}
			}
			mu.Lock()
			for c := range s.C {
				sum[c] += ls[c]
				sq[c] += lq[c]
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	n := float64(s.N) * float64(hw)
	si.Mean, si.Std = make([]float64, s.C), make([]float64, s.C)
	for c := range s.C {
		if n == 0 {
			continue
		}
		m := float64(sum[c]) / n
		v := float64(sq[c])/n - m*m
		si.Mean[c] = m / 255
		si.Std[c] = math.Sqrt(math.Max(v, 0)) / 255
	}
	return si
}
