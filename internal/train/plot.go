package train

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PlotCurves draws loss (left) and accuracy (right) per epoch into a PNG.
func PlotCurves(ms []EpochMetrics, path string) error {
	if len(ms) == 0 {
		return fmt.Errorf("plot: no epochs to plot")
	}
	loss := plot.New()
	loss.Title.Text = "loss"
	loss.X.Label.Text = "epoch"
	acc := plot.New()
	acc.Title.Text = "top-1 accuracy"
	acc.X.Label.Text = "epoch"
	trainL, trainA := make(plotter.XYs, len(ms)), make(plotter.XYs, len(ms))
	var valL, valA plotter.XYs
	for i, m := range ms {
		trainL[i] = plotter.XY{X: float64(m.Epoch), Y: m.TrainLoss}
		trainA[i] = plotter.XY{X: float64(m.Epoch), Y: m.TrainTop1}
		if m.HasVal {
			valL = append(valL, plotter.XY{X: float64(m.Epoch), Y: m.ValLoss})
			valA = append(valA, plotter.XY{X: float64(m.Epoch), Y: m.ValTop1})
		}
	}
	blue := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange := color.RGBA{R: 255, G: 127, B: 14, A: 255}
	add := func(p *plot.Plot, xy plotter.XYs, c color.Color, name string) error {
		if len(xy) == 0 {
			return nil
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, pts.Color = c, c
		p.Add(l, pts)
		p.Legend.Add(name, l)
		return nil
	}
	for _, a := range []struct {
		p    *plot.Plot
		xy   plotter.XYs
		c    color.Color
		name string
	}{{loss, trainL, blue, "train"}, {loss, valL, orange, "validation"}, {acc, trainA, blue, "train"}, {acc, valA, orange, "validation"}} {
		if err := add(a.p, a.xy, a.c, a.name); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	loss.Legend.Top = true // loss falls: the top right is free
	acc.Legend.Top = false // accuracy rises: the bottom right is free
	img := vgimg.New(vg.Points(900), vg.Points(340))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 3, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{loss, acc}}
	canvases := plot.Align(plots, tiles, dc)
	loss.Draw(canvases[0][0])
	acc.Draw(canvases[0][1])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".curves-*.png")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes 0600; outputs are 0644
		tmp.Close()
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("plot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}
