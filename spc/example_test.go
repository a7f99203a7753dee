package spc_test

import (
	"fmt"
	"time"

	"github.com/opsflow/opsflow/spc"
)

// A monthly scrap rate (lower is better): limits locked on the first eight
// months, then a bad month. By hand: Σ = 32.4, CL = 4.05; the seven moving
// ranges sum to 2.4, mR̄ = 0.342857; limits 4.05 ± 0.912; URL 1.1205. 6.2
// is above UNPL and 2.5 above 3.7 is a moving range above URL.
func ExampleCompute() {
	start := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	var pts []spc.Point
	for i, v := range []float64{4.1, 3.8, 4.4, 4.0, 3.9, 4.2, 4.3, 3.7, 6.2} {
		pts = append(pts, spc.Point{At: start.AddDate(0, i, 0), Value: v, ID: fmt.Sprintf("2026-%02d", i+1)})
	}
	c, err := spc.Compute(pts, spc.Options{Baseline: spc.Baseline{N: 8, Locked: true}})
	if err != nil {
		panic(err)
	}
	l := c.Segments[0].Limits
	fmt.Printf("CL %.3f, limits %.3f–%.3f, URL %.3f\n", l.CL, l.LNPL, l.UNPL, l.URL)
	for _, s := range c.Signals {
		fmt.Printf("%s %s %s at %s, unfavourable: %v\n", s.Severity, s.Rule, s.Side, s.PointID, spc.Unfavourable(s, spc.LowerIsBetter))
	}
	// Output:
	// CL 4.050, limits 3.138–4.962, URL 1.120
	// violation beyond_limits above at 2026-09, unfavourable: true
	// warning mr_above_url above at 2026-09, unfavourable: true
}
