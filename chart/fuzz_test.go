package chart

import (
	"bytes"
	"image/png"
	"io"
	"testing"
	"time"

	"github.com/opsflow/opsflow/spc"
)

// FuzzRender: any chart spc.Compute produces renders without a panic, in
// both formats, with and without the mR panel, and the PNG has the size
// asked for.
//
//	go test ./chart -run '^$' -fuzz FuzzRender -fuzztime 60s
func FuzzRender(f *testing.F) {
	f.Add([]byte{48, 24, 40, 24, 48, 24, 40, 24, 90, 24}, uint8(3), true, true, uint16(0))
	f.Add([]byte{0, 0, 0, 0}, uint8(0), false, false, uint16(100))
	f.Add([]byte{127, 255, 128, 255, 127, 1}, uint8(1), true, false, uint16(65535))
	f.Fuzz(func(t *testing.T, data []byte, div uint8, locked, mr bool, target uint16) {
		var pts []spc.Point
		at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i+1 < len(data) && len(pts) < 120; i += 2 {
			pts = append(pts, spc.Point{At: at, Value: float64(int8(data[i])) * 3.7})
			at = at.Add(time.Duration(data[i+1]) * 6 * time.Hour)
		}
		opts := spc.Options{Baseline: spc.Baseline{Locked: locked, N: 6}}
		if div > 0 {
			opts.Dividers = []spc.Divider{{Index: int(div), Label: "change"}}
		}
		c, err := spc.Compute(pts, opts)
		if err != nil {
			t.Skip(err)
		}
		tv := float64(target) - 300
		o := Options{Title: "fuzz", Unit: "u", Target: &tv, MovingRange: mr, Direction: spc.HigherIsBetter, Width: 320, Height: 240}
		var buf bytes.Buffer
		if err := Render(&buf, PNG, c, o); err != nil {
			t.Fatalf("png: %v", err)
		}
		img, err := png.Decode(&buf)
		if err != nil || img.Bounds().Dx() != 320 || img.Bounds().Dy() != 240 {
			t.Fatalf("png: %v %v", err, img.Bounds())
		}
		if err := Render(io.Discard, SVG, c, o); err != nil {
			t.Fatalf("svg: %v", err)
		}
	})
}
