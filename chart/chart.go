// Package chart draws an spc.Chart (an XmR process behaviour chart) as a
// PNG or SVG image on the server, so the same picture can go into an e-mail,
// a PDF report and a web page without a browser-side charting library.
//
// It uses gonum.org/v1/plot with its embedded Liberation fonts, so rendering
// needs no system fonts and gives the same pixels on every machine.
// testdata/yield-mr.png shows what it draws; regenerate the examples with
//
//	CHART_EXAMPLES=/tmp/charts go test ./chart -run WriteExamples
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/opsflow/opsflow/spc"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Format is an image format Render writes.
type Format string

const (
	PNG Format = "png"
	SVG Format = "svg"
)

// ContentType is the MIME type of the format, for an HTTP response or an
// e-mail attachment.
func (f Format) ContentType() string {
	switch f {
	case PNG:
		return "image/png"
	case SVG:
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// Sizes in pixels. The defaults fit an e-mail body (600–800 px wide is what
// mail clients show without scaling) and a web page column.
const (
	DefaultWidth    = 800
	DefaultHeight   = 400
	DefaultHeightMR = 560 // with the moving range panel
	MinSize         = 200
	MaxSize         = 4000
)

// dpi maps points (gonum's unit) to pixels: at 96 dpi a PNG of W×H pixels
// and an SVG of W×H CSS pixels have the same layout, since CSS assumes 96.
const dpi = 96

// ErrInvalid is wrapped by errors for options or chart data that cannot be
// drawn.
var ErrInvalid = errors.New("chart: invalid input")

// Options say what to draw around the chart data.
type Options struct {
	Title string
	// Unit labels the value axis, e.g. "%" or "days".
	Unit string
	// Target, when set, is drawn as its own line.
	Target *float64
	// Direction, when valid, is named on the value axis and used to draw
	// favourable signals as rings and unfavourable ones as filled discs.
	Direction spc.Direction
	// Width and Height in pixels; zero means DefaultWidth and DefaultHeight
	// (DefaultHeightMR with MovingRange).
	Width, Height int
	// MovingRange adds the mR chart as a second panel below the values.
	MovingRange bool
	// Location is the time zone of the date labels; nil means UTC.
	Location *time.Location
	// EmbedFonts embeds the fonts in an SVG so it looks the same in every
	// browser, at the cost of a few hundred kilobytes. PNG ignores it.
	EmbedFonts bool
}

// Colours: signals own red and amber, so the limits are a neutral grey and
// the centre line green, and the target a purple no one confuses with them.
var (
	colValue     = color.RGBA{R: 0x1f, G: 0x4e, B: 0x79, A: 0xff}
	colCL        = color.RGBA{R: 0x2e, G: 0x7d, B: 0x32, A: 0xff}
	colLimit     = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
	colSoftLimit = color.RGBA{R: 0xaa, G: 0xaa, B: 0xaa, A: 0xff}
	colTarget    = color.RGBA{R: 0x7b, G: 0x1f, B: 0xa2, A: 0xff}
	colDivider   = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
	colGrid      = color.RGBA{R: 0xe6, G: 0xe6, B: 0xe6, A: 0xff}
	colViolation = color.RGBA{R: 0xd3, G: 0x2f, B: 0x2f, A: 0xff}
	colWarning   = color.RGBA{R: 0xff, G: 0xa0, B: 0x00, A: 0xff}
)

func sans(size vg.Length) font.Font {
	return font.From(font.Font{Typeface: "Liberation", Variant: "Sans"}, size)
}

// Render draws the chart in the given format to w. Limits are drawn per
// segment (a step at each divider, marked by a vertical line), provisional
// limits in a lighter grey, and each line is labelled at its right end.
// Points that fire a signal are marked red (violation) or amber (warning):
// a filled disc when the signal is unfavourable or the direction unknown, a
// ring when it is favourable, with a key in the corner. A chart without
// points renders a frame that says so, so a new KPI still gets an image.
func Render(w io.Writer, format Format, c spc.Chart, opts Options) error {
	if format != PNG && format != SVG {
		return fmt.Errorf("%w: format %q (want png or svg)", ErrInvalid, format)
	}
	width, height, err := size(opts)
	if err != nil {
		return err
	}
	if err := check(c); err != nil {
		return err
	}
	if t := opts.Target; t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0)) {
		return fmt.Errorf("%w: target must be a finite number", ErrInvalid)
	}
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}

	topPx, bottomPx := height, 0
	if opts.MovingRange {
		bottomPx = int(float64(height) * mrShare)
		topPx = height - bottomPx
	}
	top, err := valuePlot(c, opts, frame{loc: loc, width: width, height: topPx})
	if err != nil {
		return err
	}
	var bottom *plot.Plot
	if opts.MovingRange {
		if bottom, err = rangePlot(c, opts.Direction, frame{loc: loc, width: width, height: bottomPx}); err != nil {
			return err
		}
		top.X.Tick.Marker = timeTicks{loc: loc, max: maxTicks(width), noLabels: true}
		bottom.X.Min, bottom.X.Max = top.X.Min, top.X.Max
	}

	wPt := vg.Length(width) * vg.Inch / dpi
	hPt := vg.Length(height) * vg.Inch / dpi
	switch format {
	case PNG:
		img := image.NewRGBA(image.Rect(0, 0, width, height))
		cv := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(dpi))
		layout(draw.New(cv), top, bottom)
		if err := png.Encode(w, cv.Image()); err != nil {
			return fmt.Errorf("chart: encode png: %w", err)
		}
	case SVG:
		cv := vgsvg.NewWith(vgsvg.UseWH(wPt, hPt), vgsvg.EmbedFonts(opts.EmbedFonts))
		layout(draw.New(cv), top, bottom)
		var buf bytes.Buffer
		if _, err := cv.WriteTo(&buf); err != nil {
			return fmt.Errorf("chart: write svg: %w", err)
		}
		out := buf.Bytes()
		if !opts.EmbedFonts {
			// vgsvg names only Liberation Sans, which most browsers lack;
			// Arial is metric-compatible with it, so the fallback keeps the
			// layout the text was measured for.
			out = bytes.ReplaceAll(out, []byte("font-family:Liberation Sans;"), []byte("font-family:Liberation Sans,Arial,Helvetica,sans-serif;"))
		}
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("chart: write svg: %w", err)
		}
	}
	return nil
}

func size(opts Options) (w, h int, err error) {
	w, h = opts.Width, opts.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
		if opts.MovingRange {
			h = DefaultHeightMR
		}
	}
	if w < MinSize || w > MaxSize || h < MinSize || h > MaxSize {
		return 0, 0, fmt.Errorf("%w: size %d×%d px (each side %d–%d)", ErrInvalid, w, h, MinSize, MaxSize)
	}
	return w, h, nil
}

// check rejects a chart whose indexes do not fit its points or whose
// numbers are not finite, as a chart decoded from JSON might be, rather
// than panic or draw nonsense.
func check(c spc.Chart) error {
	n := len(c.Points)
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for i, p := range c.Points {
		if !finite(p.Value) || p.MR != nil && !finite(*p.MR) {
			return fmt.Errorf("%w: point %d is not a finite number", ErrInvalid, i)
		}
	}
	for k, s := range c.Segments {
		if s.First < 0 || s.Last >= n || s.First > s.Last {
			return fmt.Errorf("%w: segment %d spans points %d..%d of %d", ErrInvalid, k, s.First, s.Last, n)
		}
		if l := s.Limits; l != nil && !(finite(l.CL) && finite(l.UNPL) && finite(l.LNPL) && finite(l.MRBar) && finite(l.URL)) {
			return fmt.Errorf("%w: segment %d has limits that are not finite", ErrInvalid, k)
		}
	}
	if len(c.Segments) == 0 && n > 0 {
		return fmt.Errorf("%w: %d points but no segments", ErrInvalid, n)
	}
	for _, s := range c.Signals {
		if s.Index < 0 || s.Index >= n {
			return fmt.Errorf("%w: signal at point %d of %d", ErrInvalid, s.Index, n)
		}
	}
	return nil
}

// mrShare is the part of the height the mR panel gets: enough to read
// jumps, while the values stay the main picture.
const mrShare = 0.38

// frame is what a panel needs to know about where it will be drawn.
type frame struct {
	loc           *time.Location
	width, height int // pixels
}

// perPixel converts a number of pixels to data units on a panel whose
// value axis spans span: labels are spaced by it. The data area is roughly
// the panel less 70 px of title, ticks and date labels.
func (f frame) perPixel(span float64) float64 { return span / float64(max(50, f.height-70)) }

// layout draws the value plot over the whole canvas, or over its top part
// with the mR plot below, their data areas aligned so a point and its
// moving range sit on the same vertical.
func layout(dc draw.Canvas, top, bottom *plot.Plot) {
	if bottom == nil {
		top.Draw(dc)
		return
	}
	h := dc.Max.Y - dc.Min.Y
	split := dc.Min.Y + h*mrShare
	tc := draw.Crop(dc, 0, 0, split-dc.Min.Y, 0)
	bc := draw.Crop(dc, 0, 0, 0, split-dc.Max.Y)
	td, bd := top.DataCanvas(tc), bottom.DataCanvas(bc)
	left := max(td.Min.X-tc.Min.X, bd.Min.X-bc.Min.X)
	right := max(tc.Max.X-td.Max.X, bc.Max.X-bd.Max.X)
	tc = draw.Crop(tc, left-(td.Min.X-tc.Min.X), -(right - (tc.Max.X - td.Max.X)), 0, 0)
	bc = draw.Crop(bc, left-(bd.Min.X-bc.Min.X), -(right - (bc.Max.X - bd.Max.X)), 0, 0)
	top.Draw(tc)
	bottom.Draw(bc)
}

func newPlot(f frame) *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font = sans(13)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(10)
		a.Tick.Label.Font = sans(9)
		a.Padding = vg.Points(2)
	}
	p.Legend.TextStyle.Font = sans(9)
	p.X.Tick.Marker = timeTicks{loc: f.loc, max: maxTicks(f.width)}
	grid := plotter.NewGrid()
	grid.Vertical.Width = 0
	grid.Horizontal.Color = colGrid
	p.Add(grid)
	return p
}

// maxTicks allows one date label per ~110 px: "Sep 2026" at 9 pt is ~55.
func maxTicks(width int) int { return max(2, width/110) }

func x(t time.Time) float64 { return float64(t.Unix()) }

// xRange is the time span to show: the points, the dividers, and room on
// the right for the labels at the ends of the lines.
func xRange(c spc.Chart) (lo, hi float64) {
	lo, hi = x(c.Points[0].At), x(c.Points[len(c.Points)-1].At)
	for _, s := range c.Segments {
		lo = math.Min(lo, x(s.Start))
	}
	if hi-lo < 86400 {
		lo, hi = lo-43200, hi+43200
	}
	return lo - (hi-lo)*0.02, hi + (hi-lo)*0.13
}

// segmentSpan is where a segment's lines run: from its start (the divider)
// to the next segment's start, or to its last point.
func segmentSpan(c spc.Chart, k int) (from, to float64) {
	s := c.Segments[k]
	from = x(s.Start)
	if k == 0 {
		from = x(c.Points[s.First].At)
	}
	to = x(c.Points[s.Last].At)
	if k+1 < len(c.Segments) {
		to = x(c.Segments[k+1].Start)
	}
	return from, to
}

func valuePlot(c spc.Chart, opts Options, f frame) (*plot.Plot, error) {
	p := newPlot(f)
	p.Title.Text = opts.Title
	p.Y.Label.Text = opts.Unit
	switch opts.Direction {
	case spc.HigherIsBetter:
		p.Y.Label.Text += " (higher is better)"
	case spc.LowerIsBetter:
		p.Y.Label.Text += " (lower is better)"
	}
	if len(c.Points) == 0 {
		return empty(p), nil
	}

	lo, hi := math.Inf(1), math.Inf(-1)
	extend := func(v float64) { lo, hi = math.Min(lo, v), math.Max(hi, v) }
	for _, pt := range c.Points {
		extend(pt.Value)
	}
	for _, s := range c.Segments {
		if l := s.Limits; l != nil {
			extend(l.UNPL)
			extend(l.LNPL)
		}
	}
	if opts.Target != nil {
		extend(*opts.Target)
	}
	if hi-lo == 0 {
		pad := math.Max(math.Abs(hi)*0.05, 1)
		lo, hi = lo-pad, hi+pad
	}
	marks := markers(c, func(r spc.Rule) bool { return r != spc.MRAboveURL || !opts.MovingRange }, opts.Direction, f.width)
	kinds := markKinds(marks)
	// Room above the data for the divider labels and the key to the
	// signal markers, one text line each.
	pad := (hi - lo) * 0.08
	line := f.perPixel((hi-lo)*1.3) * 13
	yMin, yMax := lo-pad, hi+pad+line*float64(max(1, len(kinds)))
	xMin, xMax := xRange(c)

	var ends, dividers plotter.XYLabels
	labelAt := func(l *plotter.XYLabels, xv, yv float64, text string) {
		l.XYs = append(l.XYs, plotter.XY{X: xv, Y: yv})
		l.Labels = append(l.Labels, text)
	}

	for k, s := range c.Segments {
		from, to := segmentSpan(c, k)
		if k > 0 {
			if err := addLine(p, [][2]float64{{from, yMin}, {from, yMax}}, colDivider, 0.8, []vg.Length{vg.Points(2), vg.Points(2)}); err != nil {
				return nil, err
			}
			if s.Label != "" {
				labelAt(&dividers, from, yMax-line*0.6, " "+s.Label)
			}
		}
		l := s.Limits
		if l == nil {
			continue
		}
		limit := colLimit
		if l.Provisional {
			limit = colSoftLimit
		}
		dash := []vg.Length{vg.Points(5), vg.Points(3)}
		for _, ln := range []struct {
			y     float64
			col   color.Color
			width float64
			dash  []vg.Length
		}{
			{l.CL, colCL, 1.2, nil},
			{l.UNPL, limit, 1, dash},
			{l.LNPL, limit, 1, dash},
		} {
			if err := addLine(p, [][2]float64{{from, ln.y}, {to, ln.y}}, ln.col, ln.width, ln.dash); err != nil {
				return nil, err
			}
		}
		if k == len(c.Segments)-1 {
			labelAt(&ends, to, l.UNPL, " UNPL "+num(l.UNPL))
			labelAt(&ends, to, l.CL, " CL "+num(l.CL))
			labelAt(&ends, to, l.LNPL, " LNPL "+num(l.LNPL))
		}
	}
	if opts.Target != nil {
		t := *opts.Target
		first, last := x(c.Points[0].At), x(c.Points[len(c.Points)-1].At)
		if err := addLine(p, [][2]float64{{first, t}, {last, t}}, colTarget, 1.2, []vg.Length{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}); err != nil {
			return nil, err
		}
		labelAt(&ends, last, t, " target "+num(t))
	}

	// Values: one line per segment (the break shows the divider), then the
	// points, then the signal markers on top.
	for _, s := range c.Segments {
		var xy [][2]float64
		for _, pt := range c.Points[s.First : s.Last+1] {
			xy = append(xy, [2]float64{x(pt.At), pt.Value})
		}
		if err := addLine(p, xy, colValue, 1.4, nil); err != nil {
			return nil, err
		}
	}
	if err := addPoints(p, c.Points, func(pt spc.ChartPoint) float64 { return pt.Value }, func(int) bool { return true }, f.width); err != nil {
		return nil, err
	}
	if err := addMarkers(p, c.Points, marks, func(pt spc.ChartPoint) float64 { return pt.Value }); err != nil {
		return nil, err
	}
	spread(&ends, f.perPixel(yMax-yMin)*11, yMax)
	if err := addLabels(p, ends); err != nil {
		return nil, err
	}
	if err := addLabels(p, dividers); err != nil {
		return nil, err
	}
	addKey(p, kinds)

	p.X.Min, p.X.Max = xMin, xMax
	p.Y.Min, p.Y.Max = yMin, yMax
	return p, nil
}

func rangePlot(c spc.Chart, d spc.Direction, f frame) (*plot.Plot, error) {
	p := newPlot(f)
	p.Y.Label.Text = "moving range"
	if len(c.Points) == 0 {
		return empty(p), nil
	}
	hi := 0.0
	for _, pt := range c.Points {
		if pt.MR != nil {
			hi = math.Max(hi, *pt.MR)
		}
	}
	var labels plotter.XYLabels
	for k, s := range c.Segments {
		from, to := segmentSpan(c, k)
		if l := s.Limits; l != nil {
			hi = math.Max(hi, l.URL)
			limit := colLimit
			if l.Provisional {
				limit = colSoftLimit
			}
			if err := addLine(p, [][2]float64{{from, l.MRBar}, {to, l.MRBar}}, colCL, 1.2, nil); err != nil {
				return nil, err
			}
			if err := addLine(p, [][2]float64{{from, l.URL}, {to, l.URL}}, limit, 1, []vg.Length{vg.Points(5), vg.Points(3)}); err != nil {
				return nil, err
			}
			if k == len(c.Segments)-1 {
				labels.XYs = append(labels.XYs, plotter.XY{X: to, Y: l.URL}, plotter.XY{X: to, Y: l.MRBar})
				labels.Labels = append(labels.Labels, " URL "+num(l.URL), " mR̄ "+num(l.MRBar))
			}
		}
	}
	if hi == 0 {
		hi = 1
	}
	marks := markers(c, func(r spc.Rule) bool { return r == spc.MRAboveURL }, d, f.width)
	kinds := markKinds(marks)
	yMax := hi * 1.12
	yMax += f.perPixel(yMax) * 13 * float64(len(kinds))
	for k := 1; k < len(c.Segments); k++ {
		from, _ := segmentSpan(c, k)
		if err := addLine(p, [][2]float64{{from, 0}, {from, yMax}}, colDivider, 0.8, []vg.Length{vg.Points(2), vg.Points(2)}); err != nil {
			return nil, err
		}
	}
	for _, s := range c.Segments {
		var xy [][2]float64
		for _, pt := range c.Points[s.First : s.Last+1] {
			if pt.MR != nil {
				xy = append(xy, [2]float64{x(pt.At), *pt.MR})
			}
		}
		if len(xy) > 0 {
			if err := addLine(p, xy, colValue, 1.2, nil); err != nil {
				return nil, err
			}
		}
	}
	mr := func(pt spc.ChartPoint) float64 { return *pt.MR }
	if err := addPoints(p, c.Points, mr, func(i int) bool { return c.Points[i].MR != nil }, f.width); err != nil {
		return nil, err
	}
	if err := addMarkers(p, c.Points, marks, mr); err != nil {
		return nil, err
	}
	spread(&labels, f.perPixel(yMax)*11, yMax)
	if err := addLabels(p, labels); err != nil {
		return nil, err
	}
	addKey(p, kinds)
	p.X.Min, p.X.Max = xRange(c)
	p.Y.Min, p.Y.Max = 0, yMax
	return p, nil
}

// empty is a frame for a KPI with no values yet.
func empty(p *plot.Plot) *plot.Plot {
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.X.Tick.Marker = plot.ConstantTicks(nil)
	p.Y.Tick.Marker = plot.ConstantTicks(nil)
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: 0.5, Y: 0.5}}, Labels: []string{"no values yet"}})
	if err == nil {
		l.TextStyle[0].Font = sans(11)
		l.TextStyle[0].XAlign = draw.XCenter
		l.TextStyle[0].YAlign = draw.YCenter
		p.Add(l)
	}
	return p
}

func addLine(p *plot.Plot, pts [][2]float64, col color.Color, width float64, dashes []vg.Length) error {
	xys := make(plotter.XYs, len(pts))
	for i, pt := range pts {
		xys[i] = plotter.XY{X: pt[0], Y: pt[1]}
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("chart: line: %w", err)
	}
	l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(width), Dashes: dashes}
	p.Add(l)
	return nil
}

// tooDense: more than one value per 6 px, where dots would merge into a
// thick line.
func tooDense(n, width int) bool { return n > width/6 }

// addPoints marks each value with a dot, unless the series is tooDense.
func addPoints(p *plot.Plot, pts []spc.ChartPoint, y func(spc.ChartPoint) float64, keep func(int) bool, width int) error {
	if tooDense(len(pts), width) {
		return nil
	}
	var xys plotter.XYs
	for i, pt := range pts {
		if keep(i) {
			xys = append(xys, plotter.XY{X: x(pt.At), Y: y(pt)})
		}
	}
	if len(xys) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return fmt.Errorf("chart: points: %w", err)
	}
	s.GlyphStyle = draw.GlyphStyle{Color: colValue, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
	p.Add(s)
	return nil
}

// mark is how one point is highlighted.
type mark struct {
	violation  bool // else warning
	favourable bool // drawn as a ring
	dense      bool // smaller, for series too dense for dots
}

// markers picks, for each point with a signal of a rule that keep accepts,
// the worst severity; the point counts as favourable only if every such
// signal on it is.
func markers(c spc.Chart, keep func(spc.Rule) bool, d spc.Direction, width int) map[int]mark {
	out := map[int]mark{}
	dense := tooDense(len(c.Points), width)
	for _, s := range c.Signals {
		if !keep(s.Rule) || s.Severity == spc.Ignore {
			continue
		}
		m, seen := out[s.Index]
		fav := d.Valid() && !spc.Unfavourable(s, d)
		if !seen {
			m.favourable = fav
		} else {
			m.favourable = m.favourable && fav
		}
		m.violation = m.violation || s.Severity == spc.Violation
		m.dense = dense
		out[s.Index] = m
	}
	return out
}

func (m mark) glyph() draw.GlyphStyle {
	g := draw.GlyphStyle{Color: colWarning, Radius: vg.Points(4), Shape: draw.CircleGlyph{}}
	if m.dense {
		g.Radius = vg.Points(2.6)
	}
	if m.violation {
		g.Color = colViolation
	}
	if m.favourable {
		g.Shape = ring{}
	}
	return g
}

// ring is a circle outline with a stroke heavy enough to see at e-mail
// sizes; gonum's RingGlyph strokes 0.5 pt, which reads as a smudge.
type ring struct{}

func (ring) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.6)})
	var p vg.Path
	p.Move(vg.Point{X: pt.X + sty.Radius, Y: pt.Y})
	p.Arc(pt, sty.Radius, 0, 2*math.Pi)
	p.Close()
	c.Stroke(p)
}

func (m mark) String() string {
	s := "warning"
	if m.violation {
		s = "violation"
	}
	if m.favourable {
		s += " (favourable)"
	}
	return s
}

func addMarkers(p *plot.Plot, pts []spc.ChartPoint, marks map[int]mark, y func(spc.ChartPoint) float64) error {
	for i, m := range marks {
		s, err := plotter.NewScatter(plotter.XYs{{X: x(pts[i].At), Y: y(pts[i])}})
		if err != nil {
			return fmt.Errorf("chart: signal marker: %w", err)
		}
		s.GlyphStyle = m.glyph()
		p.Add(s)
	}
	return nil
}

// markKinds lists the kinds of marker present, worst first, for the key.
func markKinds(marks map[int]mark) []mark {
	var out []mark
	for _, k := range []mark{{true, false, false}, {false, false, false}, {true, true, false}, {false, true, false}} {
		for _, m := range marks {
			if m.violation == k.violation && m.favourable == k.favourable {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// addKey explains the signal markers in the top-left corner, in the band
// kept free above the data. Lines need no key: they are labelled at their
// right ends.
func addKey(p *plot.Plot, kinds []mark) {
	for _, k := range kinds {
		s, err := plotter.NewScatter(plotter.XYs{})
		if err != nil {
			continue
		}
		s.GlyphStyle = k.glyph()
		p.Legend.Add("signal: "+k.String(), s)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.ThumbnailWidth = vg.Points(10)
	p.Legend.Padding = vg.Points(1)
	p.Legend.XOffs = vg.Points(4)
}

// spread moves the line-end labels apart so that none is closer than sep
// to the next (in value units), keeping them in order and below top.
func spread(l *plotter.XYLabels, sep, top float64) {
	idx := make([]int, len(l.XYs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return l.XYs[idx[a]].Y < l.XYs[idx[b]].Y })
	for k := 1; k < len(idx); k++ {
		prev, cur := &l.XYs[idx[k-1]], &l.XYs[idx[k]]
		cur.Y = math.Max(cur.Y, prev.Y+sep)
	}
	if n := len(idx); n > 0 && l.XYs[idx[n-1]].Y > top-sep/2 {
		shift := l.XYs[idx[n-1]].Y - (top - sep/2)
		for _, i := range idx {
			l.XYs[i].Y -= shift
		}
	}
}

func addLabels(p *plot.Plot, labels plotter.XYLabels) error {
	if len(labels.Labels) == 0 {
		return nil
	}
	l, err := plotter.NewLabels(labels)
	if err != nil {
		return fmt.Errorf("chart: labels: %w", err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font = sans(8)
		l.TextStyle[i].Color = colLimit
		l.TextStyle[i].YAlign = draw.YCenter
	}
	p.Add(l)
	return nil
}

// num formats a limit for a label: four significant figures is as precise
// as limits deserve, and more would crowd the chart; large values are
// written out whole rather than in exponent form.
func num(v float64) string {
	if a := math.Abs(v); a >= 1e4 && a < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
