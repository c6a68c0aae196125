package main

import (
	"fmt"
	"image"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
	"math"
	"os"

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
	Device string
	Prec   string
	JSON   bool
}

// prediction is one image's answer.
type prediction struct {
	Path   string      `json:"path"`
	Top    []classProb `json:"top"`
	Logits []float32   `json:"logits"`
}

type classProb struct {
	Class string  `json:"class"`
	Index int     `json:"index"`
	Prob  float64 `json:"prob"`
}

func newPredictCmd(f *Factory, runF func(*predictOptions) error) *cobra.Command {
	opts := &predictOptions{f: f}
	cmd := &cobra.Command{
		Use:   "predict CHECKPOINT IMAGE...",
		Short: "Classify image files (PNG or JPEG) with a checkpoint",
		Long: `predict prints the most likely classes of each image with their softmax
probabilities. Images are normalised as in training (pixels/255, then the
checkpoint's mean and std). An image whose size differs from the model's input
is an error unless --resize is given (bilinear).`,
		Example: `  cnnctl predict runs/lenet/best shoe.png
  cnnctl predict imported.ckpt cat.jpg dog.jpg --top-k 3 --json`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ckpt, opts.Images = args[0], args[1:]
			if opts.TopK < 1 {
				return usagef("--top-k must be at least 1, got %d", opts.TopK)
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
	return cmd
}

func runPredict(o *predictOptions) error {
	lm, err := loadCheckpointModel(o.Ckpt, o.Device, o.f.ErrOut)
	if err != nil {
		return err
	}
	defer lm.be.Close()
	(&precisionNote{}).apply(lm.be, o.Prec, o.f.ErrOut)
	ck := lm.ck
	c, h, w := ck.Input[0], ck.Input[1], ck.Input[2]
	x := make([]float32, len(o.Images)*c*h*w)
	for i, path := range o.Images {
		if err := loadImage(path, x[i*c*h*w:(i+1)*c*h*w], c, h, w, ck.Mean, ck.Std, o.Resize); err != nil {
			return err
		}
	}
	be := lm.be
	xt := be.New(tensor.Shape{len(o.Images), c, h, w})
	be.Upload(xt, x)
	out := lm.model.Forward(xt, false)
	k := out.Numel() / len(o.Images)
	logits := make([]float32, out.Numel())
	be.Download(logits, out)
	if err := be.Err(); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	preds := make([]prediction, len(o.Images))
	for i, path := range o.Images {
		row := logits[i*k : (i+1)*k]
		probs := softmax(row)
		p := prediction{Path: path, Logits: append([]float32(nil), row...)}
		for _, j := range train.TopK(row, o.TopK) {
			p.Top = append(p.Top, classProb{Class: ck.Classes[j], Index: j, Prob: probs[j]})
		}
		preds[i] = p
	}
	if o.JSON {
		return printJSON(o.f, preds)
	}
	for _, p := range preds {
		fmt.Fprintf(o.f.Out, "%s\n", p.Path)
		for _, t := range p.Top {
			fmt.Fprintf(o.f.Out, "  %6.2f%%  %s\n", t.Prob*100, t.Class)
		}
	}
	return nil
}

// loadImage decodes a PNG or JPEG into dst (C,H,W), normalised like the
// training data: pixel/255, then (x-mean)/std per channel. One channel
// means luma (ITU-R 601, as PIL's "L" mode).
func loadImage(path string, dst []float32, c, h, w int, mean, std []float32, resize bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		return fmt.Errorf("predict: %s: not a PNG or JPEG image: %w", path, err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		if !resize {
			return fmt.Errorf("predict: %s is %dx%d (%s), the model takes %dx%d images: pass --resize to scale it", path, b.Dx(), b.Dy(), format, w, h)
		}
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
