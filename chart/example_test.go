package chart_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/opsflow/opsflow/chart"
	"github.com/opsflow/opsflow/spc"
)

// A KPI's chart as the API would serve it for GET /v1/kpis/{key}/chart
// with Accept: image/png, or as a monthly report e-mail would attach it.
func ExampleRender() {
	start := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	var pts []spc.Point
	for i, v := range []float64{4.1, 3.8, 4.4, 4.0, 3.9, 4.2, 4.3, 3.7, 6.2} {
		pts = append(pts, spc.Point{At: start.AddDate(0, i, 0), Value: v})
	}
	c, err := spc.Compute(pts, spc.Options{Baseline: spc.Baseline{N: 8, Locked: true}})
	if err != nil {
		panic(err)
	}
	target := 3.5
	var png bytes.Buffer
	err = chart.Render(&png, chart.PNG, c, chart.Options{
		Title:     "Scrap rate, line 2",
		Unit:      "%",
		Target:    &target,
		Direction: spc.LowerIsBetter,
	})
	fmt.Println(err, chart.PNG.ContentType(), png.Len() > 0)
	// Output: <nil> image/png true
}
