package twin

import (
	"fmt"
	"image/color"
	"io"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WritePlot draws the run as a PNG: delivery ratio and connectivity over
// virtual time, with the first fault marked by a vertical line.
func WritePlot(w io.Writer, r *Result) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %d nodes, seed %d, MTTR %.2f s", r.Name, r.Nodes, r.Seed, r.MTTRSeconds)
	p.X.Label.Text = "virtual time (s)"
	p.Y.Label.Text = "fraction"
	p.Y.Min, p.Y.Max = 0, 1.05
	p.X.Min, p.X.Max = 0, r.VirtualSeconds
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = true

	delivery := make(plotter.XYs, len(r.Delivery))
	for i, pt := range r.Delivery {
		delivery[i] = plotter.XY{X: pt.T, Y: pt.V}
	}
	conn := make(plotter.XYs, 0, len(r.Connectivity)+1)
	for _, pt := range r.Connectivity {
		conn = append(conn, plotter.XY{X: pt.T, Y: pt.V})
	}
	if len(conn) > 0 {
		conn = append(conn, plotter.XY{X: r.VirtualSeconds, Y: conn[len(conn)-1].Y})
	}
	if len(delivery) > 0 {
		l, err := plotter.NewLine(delivery)
		if err != nil {
			return fmt.Errorf("plot delivery: %w", err)
		}
		l.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add("delivery ratio", l)
	}
	if len(conn) > 0 {
		l, err := plotter.NewLine(conn)
		if err != nil {
			return fmt.Errorf("plot connectivity: %w", err)
		}
		l.StepStyle = plotter.PostStep
		l.Color = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
		l.Width = vg.Points(1.5)
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("connectivity", l)
	}
	if r.FailAtSeconds >= 0 {
		mark, err := plotter.NewLine(plotter.XYs{{X: r.FailAtSeconds, Y: 0}, {X: r.FailAtSeconds, Y: 1.05}})
		if err != nil {
			return fmt.Errorf("plot failure: %w", err)
		}
		mark.Color = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
		mark.Width = vg.Points(1)
		p.Add(mark)
		p.Legend.Add("failure", mark)
		if r.Recovered && r.MTTRSeconds > 0 {
			back := r.FailAtSeconds + r.MTTRSeconds
			rec, err := plotter.NewLine(plotter.XYs{{X: back, Y: 0}, {X: back, Y: 1.05}})
			if err != nil {
				return fmt.Errorf("plot recovery: %w", err)
			}
			rec.Color = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
			rec.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(rec)
			p.Legend.Add("all flows back", rec)
		}
	}
	p.Legend.ThumbnailWidth = vg.Points(20)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.YOffs = vg.Points(4)
	wt, err := p.WriterTo(8*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// SavePlot writes WritePlot's PNG to a file.
func SavePlot(path string, r *Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := WritePlot(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
