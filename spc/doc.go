// Package spc is the statistical core of the KPI loop: XmR (individuals and
// moving range) process behaviour charts as Donald J. Wheeler describes them
// in "Understanding Variation" and "Making Sense of Data".
//
// A KPI is one number per period, so there are no rational subgroups: the
// only honest estimate of routine variation is the moving range between
// successive values. From a baseline of values the chart has
//
//	X̄    centre line (CL), the mean of the baseline values
//	mR̄   the mean of the baseline moving ranges |x_i − x_{i−1}|
//	UNPL X̄ + 2.66·mR̄   upper natural process limit
//	LNPL X̄ − 2.66·mR̄   lower natural process limit
//	URL  3.268·mR̄       upper range limit for the moving ranges
//
// 2.66 is 3/d2 and 3.268 is D4 for moving ranges of two values (d2 = 1.128).
// Other tools (NIST's e-Handbook, SAS, Minitab) use 3/1.128 = 2.6596 and
// 3.267; their published limits therefore differ from ours in the fourth
// significant figure, which is far inside the uncertainty of any limits.
//
// Dividers split the series into segments after a deliberate change (a
// standardised Kaizen, a new process): each segment has its own baseline and
// limits, moving ranges never span a divider, and runs are judged within one
// segment. A locked baseline fixes the limits so that later values are judged
// against them instead of being folded in; an unlocked one is recomputed
// from every value of its segment.
//
// Everything here is a pure function of its arguments: no I/O, no clock, no
// global state, so the API, the workflows and the chart renderer can share it
// and tests can pin it to published worked examples.
package spc
