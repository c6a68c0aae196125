package train

// Batch is one batch on the host, ready to upload.
type Batch struct {
	X []float32 // (N,C,H,W), normalised
	Y []float32 // (N), class indices as float32
	N int
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
