package train

import "github.com/cnnctl/cnnctl/internal/tensor"

// Batch is one batch on the host, ready to upload, or (Held) the size and
// labels of a batch that the step or an evaluation gathers from the data
// set held by the backend.
type Batch struct {
	X []float32 // (N,C,H,W), normalised
	Y []float32 // (N), class indices as float32
	N int
	// Held: X is nil and Y the labels the gather will make, for the
	// host's tallies; Step.Run (or an evaluation) gathers the batch from
	// its held data set at its batch counter (devdata.go).
	Held bool
}

// Source yields the batches of one split, epoch by epoch. Epoch e's order
// (and augmentation) depend only on the seed and e, so a resumed run sees
// exactly the batches it would have seen.
type Source interface {
	// Batches is the number of batches per epoch.
	Batches() int
	// Images is the number of images per epoch.
	Images() int
	// Epoch starts epoch e (0-based), skipping its first skip batches.
	Epoch(e, skip int) Iterator
}

// Iterator walks one epoch. Batches returned by Next stay valid until the
// following call of Next.
type Iterator interface {
	Next() (*Batch, bool)
	Close()
}

// HoldableSource is a Source whose images a backend can hold
// (tensor.DataHolder), so that the batches are made there: its decoded
// images and labels, and each epoch's draws as tables, exactly those its
// own iterator uses.
type HoldableSource interface {
	Source
	// BatchSize is the size of every batch but the last.
	BatchSize() int
	// HoldData returns the images (N,C,H,W) uint8, the labels (N) and the
	// parameters of the batches made of them.
	HoldData() (images []uint8, labels []int32, p tensor.DataParams)
	// Tables returns epoch e's order (N) and crops (N,3), as
	// tensor.DataSet.SetEpoch takes them.
	Tables(e int) (order, crops []int32)
}
