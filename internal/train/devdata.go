package train

import (
	"fmt"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Where the training batches are made (Config.DataOn).
const (
	// DataAuto (or "") holds the training set on the backend when it has
	// memory of its own (tensor.MemInfo: a GPU), can hold a set
	// (tensor.DataHolder) and the set fits beside the run; else the
	// host's loader streams the batches. On the CPU the loader's workers
	// make batches in parallel with the step, so auto streams there.
	DataAuto = "auto"
	// DataDevice holds the set wherever the backend can hold it (the CPU
	// backend too: the tests compare the two paths there), still falling
	// back to the host when it cannot or the set does not fit.
	DataDevice = "device"
	// DataHost always streams batches from the host's loader.
	DataHost = "host"
)

// placeData decides where the run's training batches are made and says
// which in one line: "data: on the device (…)" with the set held by the
// backend and the source that yields its batches, or "data: streamed from
// the host: <why>" with src itself and no set.
func placeData(cfg Config, be tensor.Backend, src Source) (Source, tensor.DataSet, string) {
	got, set, words := holdSplit(cfg.DataOn, be, src, "training set", cfg.DeviceReserve, "the run's %.0f MiB (its memory plan)")
	if set == nil {
		return got, nil, "data: streamed from the host: " + words
	}
	return got, set, "data: on the device (" + words + " and their tables)"
}

// placeEval decides where an evaluation's batches are made (the
// validation split during training, cnnctl eval's split), by the same
// rule as the training set's: beside is the device memory already spoken
// for (the run's or the evaluation's memory plan and a held training set).
// The words say where, for the caller's one line: "on the device (N MiB:
// …)" or "streamed from the host: <why>".
func placeEval(dataOn string, be tensor.Backend, src Source, what string, beside int64) (Source, tensor.DataSet, string) {
	got, set, words := holdSplit(dataOn, be, src, what, beside, "the %.0f MiB the run needs beside it")
	if set == nil {
		return got, nil, "streamed from the host: " + words
	}
	return got, set, "on the device (" + words + ")"
}

// PlaceEval holds the split that src walks on be for an evaluation
// (cnnctl eval), by the rule of Config.DataOn (dataOn: auto, device or
// host), when it fits beside the beside bytes the evaluation itself needs
// on the device. It returns the source to give EvaluateWith, a function
// that frees the held set (nothing when streamed) and one line saying
// where the data is: "data: on the device (…)" or "data: streamed from the
// host: <why>".
func PlaceEval(dataOn string, be tensor.Backend, src Source, beside int64) (Source, func(), string) {
	got, set, where := placeEval(dataOn, be, src, "evaluation set", beside)
	release := func() {}
	if set != nil {
		release = set.Free
	}
	return got, release, "data: " + where
}

// holdSplit holds src on be when dataOn and the backend's memory allow it
// (the rule of DataAuto, DataDevice and DataHost) and returns the source
// that yields its batches with the set and "N MiB: n images of CxHxW";
// otherwise src, no set and why not. what names the split in the words,
// beside is the device memory needed besides the set, described by
// besideWords (a format taking its MiB).
func holdSplit(dataOn string, be tensor.Backend, src Source, what string, beside int64, besideWords string) (Source, tensor.DataSet, string) {
	streamed := func(format string, args ...any) (Source, tensor.DataSet, string) {
		return src, nil, fmt.Sprintf(format, args...)
	}
	holder, canHold := be.(tensor.DataHolder)
	hs, holdable := src.(HoldableSource)
	mi, device := be.(tensor.MemInfo)
	switch {
	case dataOn == DataHost:
		return streamed("asked for (--data-on host)")
	case dataOn != "" && dataOn != DataAuto && dataOn != DataDevice:
		return streamed("unknown data placement %q (want auto, device or host)", dataOn)
	case !canHold:
		return streamed("the backend (%s) cannot hold a data set", be.Name())
	case !holdable:
		return streamed("the %s's source (%T) cannot be held by a backend", what, src)
	case dataOn != DataDevice && !device:
		return streamed("the backend (%s) uses the host's memory, where the loader's workers make the batches beside the step", be.Name())
	}
	images, labels, p := hs.HoldData()
	need := p.Bytes()
	if device {
		free, _, name := mi.DeviceMemory()
		if free <= 0 {
			return streamed("%s reported no free memory to check the %s's %.0f MiB against", name, what, MiB(need))
		}
		if need+beside > free {
			return streamed("the %s's %.0f MiB and "+besideWords+" do not fit the %.0f MiB free on %s",
				what, MiB(need), MiB(beside), MiB(free), name)
		}
	}
	set, err := holder.HoldData(images, labels, p)
	if err != nil {
		return streamed("%v", err)
	}
	return heldSource{hs, set}, set, fmt.Sprintf("%.0f MiB: %s images of %dx%dx%d", MiB(need), Commas(int64(p.N)), p.C, p.H, p.W)
}

// heldSource yields the batches of a set held by the backend: each epoch
// uploads the source's tables, and each batch is its size and its labels
// on the host (Batch.Held): the images stay on the backend, where
// Step.Run or an evaluation gathers them.
type heldSource struct {
	src HoldableSource
	set tensor.DataSet
}

func (h heldSource) Batches() int { return h.src.Batches() }
func (h heldSource) Images() int  { return h.src.Images() }

// Epoch uploads epoch e's order and crops and walks its batches from skip.
func (h heldSource) Epoch(e, skip int) Iterator {
	order, crops := h.src.Tables(e)
	h.set.SetEpoch(order, crops)
	_, labels, _ := h.src.HoldData()
	return &heldIter{h: h, b: max(skip, 0), order: order, labels: labels}
}

// batchSize is the size of every batch but the last, as the gather takes it.
func (h heldSource) batchSize() int { return h.src.BatchSize() }

// held is the set and its batch size, for an evaluation (heldSplit).
func (h heldSource) held() (tensor.DataSet, int) { return h.set, h.src.BatchSize() }

// heldSplit is a Source whose batches are gathered from a held set.
type heldSplit interface {
	Source
	held() (set tensor.DataSet, batch int)
}

// heldIter counts the batches of one epoch and looks up their labels.
type heldIter struct {
	h      heldSource
	b      int
	order  []int32 // the epoch's image at each position
	labels []int32 // the set's labels, by image
	y      []float32
	batch  Batch
}

func (it *heldIter) Next() (*Batch, bool) {
	bs := it.h.src.BatchSize()
	if it.b >= it.h.Batches() {
		return nil, false
	}
	n, first := min(bs, it.h.Images()-it.b*bs), it.b*bs
	it.y = it.y[:0]
	for _, i := range it.order[first : first+n] {
		it.y = append(it.y, float32(it.labels[i]))
	}
	it.batch = Batch{Y: it.y, N: n, Held: true}
	it.b++
	return &it.batch, true
}

func (it *heldIter) Close() {}

// Hold makes the step gather the batches that Load marks Held from set, at
// its batch counter, with batch size batch (the size of every batch but the
// last).
func (s *Step) Hold(set tensor.DataSet, batch int) { s.set, s.setBatch = set, batch }
