package twin

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestPlotWritesPNG(t *testing.T) {
	r := &Result{
		Name: "plot", Nodes: 10, Seed: 1, VirtualSeconds: 20, FailAtSeconds: 5, MTTRSeconds: 3, Recovered: true,
		Connectivity: []Point{{0, 1}, {5, 0.8}},
		Delivery:     []Point{{1, 1}, {2, 1}, {5, 0.4}, {6, 0.2}, {8, 1}, {19, 1}},
	}
	path := filepath.Join(t.TempDir(), "out.png")
	if err := SavePlot(path, r); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("image is %v", b)
	}
}
