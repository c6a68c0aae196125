package main

import (
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/spf13/cobra"
	"golang.org/x/image/draw"
)

type predictOptions struct {
	f      *Factory
	Ckpt   string
	Images []string
	TopK   int
	Resize bool
	Batch  int
	MaxMP  float64
	Device string
	Prec   string
	JSON   bool
}

// prediction is one image's answer.
type prediction struct {
	Path   string      `json:"path"`
	Top    []classProb `json:"top"`
	Logits []float32   `json:"logits"`
	// NonFinite: the logits hold NaN or Inf; Top and Logits are empty.
	NonFinite bool `json:"non_finite,omitempty"`
}

type classProb struct {
	Class string  `json:"class"`
	Index int     `json:"index"`
	Prob  float64 `json:"prob"`
}

func newPredictCmd(f *Factory, runF func(*predictOptions) error) *cobra.Command {
	opts := &predictOptions{f: f}
	cmd := &cobra.Command{
		Use:   "predict CHECKPOINT IMAGE|FOLDER...",
		Short: "Classify image files (PNG or JPEG) with a checkpoint",
		Long: `predict prints the most likely classes of each image with their softmax
probabilities. Images are normalised as in training (pixels/255, then the
checkpoint's mean and std). An image whose size differs from the model's input
is an error unless --resize is given (bilinear). A folder stands for the PNG
and JPEG files in it and its subfolders, in name order.

Images are read and classified --batch-size at a time and each result is
printed as soon as its batch is done, so memory does not grow with the
number of images. An image's size is read from its header before it is
decoded: one declaring more than --max-megapixels is refused unread.`,
		Example: `  cnnctl predict runs/lenet/best shoe.png
  cnnctl predict imported.ckpt cat.jpg dog.jpg --top-k 3 --json
  cnnctl predict runs/resnet/best photos/ --resize`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ckpt, opts.Images = args[0], args[1:]
			if opts.TopK < 1 {
				return usagef("--top-k must be at least 1, got %d", opts.TopK)
			}
			if opts.Batch < 1 {
				return usagef("--batch-size must be at least 1, got %d", opts.Batch)
			}
			if !(opts.MaxMP > 0) || math.IsInf(opts.MaxMP, 0) {
				return usagef("--max-megapixels must be a positive number, got %g", opts.MaxMP)
			}
			if err := checkDeviceFlag(opts.Device); err != nil {
				return err
			}
			if err := checkPrecision(opts.Prec); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runPredict(opts)
		},
	}
	cmd.Flags().IntVarP(&opts.TopK, "top-k", "k", 5, "classes to show per image")
	cmd.Flags().BoolVar(&opts.Resize, "resize", false, "resize images to the model's input size")
	cmd.Flags().StringVar(&opts.Device, "device", "auto", "auto, cpu, cuda or cuda:N")
	addPrecisionFlag(cmd.Flags(), &opts.Prec)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array: path, top [{class, index, prob}], logits")
	cmd.Flags().IntVarP(&opts.Batch, "batch-size", "b", 64, "images read and classified at a time")
	cmd.Flags().Float64Var(&opts.MaxMP, "max-megapixels", 64, "refuse images declaring more pixels than this (millions), before decoding")
	return cmd
}

func runPredict(o *predictOptions) error {
	paths, err := expandImages(o.Images)
	if err != nil {
		return err
	}
	lm, err := loadCheckpointModel(o.Ckpt, o.Device, o.f.ErrOut)
	if err != nil {
		return err
	}
	defer lm.be.Close()
	if err := setActivations(lm.model, lm.be, (&precisionNote{}).apply(lm.be, o.Prec, o.f.ErrOut)); err != nil {
		return err
	}
	ck := lm.ck
	c, h, w := ck.Input[0], ck.Input[1], ck.Input[2]
	batch := min(o.Batch, len(paths))
	if _, err := checkInferenceMemory(lm, batch, 0); err != nil {
		return err
	}
	be := lm.be
	xt := be.New(tensor.Shape{batch, c, h, w})
	defer be.Free(xt)
	x := make([]float32, batch*c*h*w)
	out := newPredictionWriter(o.f.Out, o.JSON)
	bad := 0
	for start := 0; start < len(paths); start += batch {
		chunk := paths[start:min(start+batch, len(paths))]
		n := len(chunk)
		for i, path := range chunk {
			if err := loadImage(path, x[i*c*h*w:(i+1)*c*h*w], c, h, w, ck.Mean, ck.Std, o.Resize, o.MaxMP); err != nil {
				out.close()
				return err
			}
		}
		xv := xt.View(tensor.Shape{n, c, h, w})
		be.Upload(xv, x[:n*c*h*w])
		y := lm.model.Forward(xv, false)
		k := y.Numel() / n
		logits := make([]float32, y.Numel())
		be.Download(logits, y)
		if err := be.Err(); err != nil {
			out.close()
			return fmt.Errorf("predict: %w", err)
		}
		for i, path := range chunk {
			row := logits[i*k : (i+1)*k]
			p := prediction{Path: path, Top: []classProb{}, Logits: []float32{}, NonFinite: true}
			if finiteRow(row) {
				probs := softmax(row)
				p = prediction{Path: path, Logits: append([]float32(nil), row...)}
				for _, j := range train.TopK(row, o.TopK) {
					p.Top = append(p.Top, classProb{Class: ck.Classes[j], Index: j, Prob: probs[j]})
				}
			} else {
				bad++
			}
			if err := out.write(p); err != nil {
				return err
			}
		}
	}
	if err := out.close(); err != nil {
		return err
	}
	return nonFiniteOutputs("predict", bad, len(paths))
}

// predictionWriter prints each prediction as it comes: text, or the
// elements of one JSON array, indented as json.Encoder would.
type predictionWriter struct {
	w    io.Writer
	json bool
	n    int
}

func newPredictionWriter(w io.Writer, asJSON bool) *predictionWriter {
	return &predictionWriter{w: w, json: asJSON}
}

func (pw *predictionWriter) write(p prediction) error {
	var err error
	if !pw.json {
		fmt.Fprintf(pw.w, "%s\n", p.Path)
		if p.NonFinite {
			fmt.Fprintf(pw.w, "  no prediction: the model's output is not finite (NaN/Inf)\n")
		}
		for _, t := range p.Top {
			_, err = fmt.Fprintf(pw.w, "  %6.2f%%  %s\n", t.Prob*100, t.Class)
		}
		return err
	}
	b, err := json.MarshalIndent(p, "  ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n  "
	if pw.n == 0 {
		sep = "[\n  "
	}
	pw.n++
	_, err = fmt.Fprintf(pw.w, "%s%s", sep, b)
	return err
}

// close ends the JSON array (also when a later image failed, so that what
// was printed still parses).
func (pw *predictionWriter) close() error {
	if !pw.json {
		return nil
	}
	end := "\n]\n"
	if pw.n == 0 {
		end = "[]\n"
	}
	pw.json = false
	_, err := io.WriteString(pw.w, end)
	return err
}

// expandImages replaces each folder argument by the PNG and JPEG files
// under it, in name order; a folder without any is an error.
func expandImages(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".png", ".jpg", ".jpeg":
				if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
					out = append(out, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		if len(out) == n {
			return nil, fmt.Errorf("predict: %s is a folder with no .png, .jpg or .jpeg images in it", a)
		}
	}
	return out, nil
}

// loadImage decodes a PNG or JPEG into dst (C,H,W), normalised like the
// training data: pixel/255, then (x-mean)/std per channel. One channel
// means luma (ITU-R 601, as PIL's "L" mode).
func loadImage(path string, dst []float32, c, h, w int, mean, std []float32, resize bool, maxMP float64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	defer f.Close()
	// The header first: the declared size is checked before a decoder
	// allocates for it (a 2.6 MB PNG may declare 30000x30000).
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return fmt.Errorf("predict: %s: not a PNG or JPEG image: %w", path, err)
	}
	if cfg.Width != w || cfg.Height != h {
		if !resize {
			return fmt.Errorf("predict: %s is %dx%d (%s), the model takes %dx%d images: pass --resize to scale it", path, cfg.Width, cfg.Height, format, w, h)
		}
		if mp := float64(cfg.Width) * float64(cfg.Height) / 1e6; mp > maxMP {
			return fmt.Errorf("predict: %s declares %dx%d pixels (%.0f megapixels), more than --max-megapixels %g: shrink it first, or raise --max-megapixels", path, cfg.Width, cfg.Height, mp, maxMP)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return fmt.Errorf("predict: %s: not a PNG or JPEG image: %w", path, err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		dstImg := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.BiLinear.Scale(dstImg, dstImg.Bounds(), img, b, draw.Src, nil)
		img, b = dstImg, dstImg.Bounds()
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r16, g16, b16, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			r, g, bl := uint8(r16>>8), uint8(g16>>8), uint8(b16>>8)
			var px [3]uint8
			if c == 1 {
				if gray, ok := img.(*image.Gray); ok {
					px[0] = gray.GrayAt(b.Min.X+x, b.Min.Y+y).Y
				} else {
					px[0] = uint8((uint32(r)*299 + uint32(g)*587 + uint32(bl)*114) / 1000)
				}
			} else {
				px = [3]uint8{r, g, bl}
			}
			for ch := 0; ch < c; ch++ {
				v := float32(px[ch]) / 255
				dst[(ch*h+y)*w+x] = (v - mean[ch]) / std[ch]
			}
		}
	}
	return nil
}

func softmax(row []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	out := make([]float64, len(row))
	var sum float64
	for i, v := range row {
		out[i] = math.Exp(float64(v) - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
