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
	streamed := func(format string, args ...any) (Source, tensor.DataSet, string) {
		return src, nil, "data: streamed from the host: " + fmt.Sprintf(format, args...)
	}
	holder, canHold := be.(tensor.DataHolder)
	hs, holdable := src.(HoldableSource)
	mi, device := be.(tensor.MemInfo)
	switch {
	case cfg.DataOn == DataHost:
		return streamed("asked for (--data-on host)")
	case cfg.DataOn != "" && cfg.DataOn != DataAuto && cfg.DataOn != DataDevice:
		return streamed("unknown data placement %q (want auto, device or host)", cfg.DataOn)
	case !canHold:
		return streamed("the backend (%s) cannot hold a data set", be.Name())
	case !holdable:
		return streamed("the training source (%T) cannot be held by a backend", src)
	case cfg.DataOn != DataDevice && !device:
		return streamed("the backend (%s) uses the host's memory, where the loader's workers make the batches beside the step", be.Name())
	}
	images, labels, p := hs.HoldData()
	need := p.Bytes()
	if device {
		free, _, name := mi.DeviceMemory()
		if free <= 0 {
			return streamed("%s reported no free memory to check the training set's %.0f MiB against", name, MiB(need))
		}
		if need+cfg.DeviceReserve > free {
			return streamed("the training set's %.0f MiB and the run's %.0f MiB (its memory plan) do not fit the %.0f MiB free on %s",
				MiB(need), MiB(cfg.DeviceReserve), MiB(free), name)
		}
	}
	set, err := holder.HoldData(images, labels, p)
	if err != nil {
		return streamed("%v", err)
	}
	return heldSource{hs, set}, set, fmt.Sprintf("data: on the device (%.0f MiB: %s images of %dx%dx%d and their tables; validation streams from the host)",
		MiB(need), Commas(int64(p.N)), p.C, p.H, p.W)
}

// heldSource yields the batches of a set held by the backend: each epoch
// uploads the source's tables, and each batch is only its size (Batch.Held):
// Step.Run gathers it on the backend.
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
	return &heldIter{h: h, b: max(skip, 0)}
}

// heldIter counts the batches of one epoch; the images stay on the backend.
type heldIter struct {
	h     heldSource
	b     int
	batch Batch
}

func (it *heldIter) Next() (*Batch, bool) {
	bs := it.h.src.BatchSize()
	if it.b >= it.h.Batches() {
		return nil, false
	}
	it.batch = Batch{N: min(bs, it.h.Images()-it.b*bs), Held: true}
	it.b++
	return &it.batch, true
}

func (it *heldIter) Close() {}

// Hold makes the step gather the batches that Load marks Held from set, at
// its batch counter, with batch size batch (the size of every batch but the
// last).
func (s *Step) Hold(set tensor.DataSet, batch int) { s.set, s.setBatch = set, batch }
