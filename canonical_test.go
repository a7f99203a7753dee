package opsflow

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
)

// The examples of RFC 8785 itself (§3.2.2, §3.2.3).
func TestJCSRFCExamples(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{
		  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
		  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
		  "literals": [null, true, false]
		}`, `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One",
		  "\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		{`"<a & b>\u2028"`, "\"<a & b>\u2028\""},
		{`[1.0, -0, 1e21, 1e-7, 0.000001, 123456789012345678901234]`, `[1,0,1e+21,1e-7,0.000001,1.2345678901234569e+23]`},
	}
	for _, c := range cases {
		got, err := JCS([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("JCS(%s)\n got %s (%v)\nwant %s", c.in, got, err, c.want)
		}
	}
	// Appendix B: IEEE 754 bit patterns and their ECMAScript form.
	for bits, want := range map[uint64]string{
		0x0000000000000000: "0", 0x8000000000000000: "0", 0x0000000000000001: "5e-324", 0x8000000000000001: "-5e-324",
		0x7fefffffffffffff: "1.7976931348623157e+308", 0xffefffffffffffff: "-1.7976931348623157e+308",
		0x4340000000000000: "9007199254740992", 0xc340000000000000: "-9007199254740992",
		0x4430000000000000: "295147905179352830000", 0x44b52d02c7e14af5: "9.999999999999997e+22",
		0x44b52d02c7e14af6: "1e+23", 0x44b52d02c7e14af7: "1.0000000000000001e+23", 0x444b1ae4d6e2ef4e: "999999999999999700000",
		0x444b1ae4d6e2ef4f: "999999999999999900000", 0x444b1ae4d6e2ef50: "1e+21", 0x3eb0c6f7a0b5ed8c: "9.999999999999997e-7",
		0x3eb0c6f7a0b5ed8d: "0.000001", 0x41b3de4355555553: "333333333.3333332", 0x41b3de4355555554: "333333333.33333325",
		0x41b3de4355555555: "333333333.3333333", 0x41b3de4355555556: "333333333.3333334", 0x41b3de4355555557: "333333333.33333343",
		0xbecbf647612f3696: "-0.0000033333333333333333", 0x43143ff3c1cb0959: "1424953923781206.2",
	} {
		f := math.Float64frombits(bits)
		got, err := JCS([]byte(strconv.FormatFloat(f, 'g', -1, 64)))
		if err != nil || string(got) != want {
			t.Errorf("%016x (%v): got %s (%v), want %s", bits, f, got, err, want)
		}
	}
}

func TestJCSRefuses(t *testing.T) {
	for _, in := range []string{`{`, `{"a":1,"a":2}`, "\"\xff\"", `1e400`, `[1] [2]`, ``} {
		if got, err := JCS([]byte(in)); err == nil {
			t.Errorf("JCS(%q) = %s, want an error", in, got)
		}
	}
}

// TestJCSMatchesReference compares the domain's encoder with a maintained
// implementation (github.com/gowebpki/jcs) on records shaped like ours and
// on random documents.
func TestJCSMatchesReference(t *testing.T) {
	docs := []string{
		`{"id":"capa-1","title":"R&D <lab> \u2028 \"q\" \\ \t","risk":{"score":48,"level":"high"},"ratio":0.1,"big":1e21,"tiny":5e-7,"neg":-12.5,"tasks":[],"x":null,"ok":true}`,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		b, _ := json.Marshal(randomValue(r, 3))
		docs = append(docs, string(b))
	}
	for _, d := range docs {
		want, err := jcs.Transform([]byte(d))
		if err != nil {
			t.Fatalf("reference on %s: %v", d, err)
		}
		got, err := JCS([]byte(d))
		if err != nil || string(got) != string(want) {
			t.Fatalf("JCS(%s)\n got %s (%v)\nwant %s", d, got, err, want)
		}
	}
}

func randomValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(7); {
	case depth == 0 || k == 0:
		return randomString(r)
	case k == 1:
		return math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(0x7fe)+1)<<52) // any finite double
	case k == 2:
		return r.IntN(1_000_000) - 500_000
	case k == 3:
		return r.IntN(2) == 0
	case k == 4:
		return nil
	case k == 5:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomValue(r, depth-1)
		}
		return a
	default:
		m := map[string]any{}
		for range r.IntN(5) {
			m[randomString(r)] = randomValue(r, depth-1)
		}
		return m
	}
}

func randomString(r *rand.Rand) string {
	alphabet := []rune("aZ09 <>&\"\\/\n\t\x01\x1f\u007f\u0080é€\u2028\ufb33😀𝄞")
	var b strings.Builder
	for range r.IntN(8) {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// Seals and signatures made before RFC 8785 still verify.
func TestRecordHashAcceptsLegacySeals(t *testing.T) {
	rec := []byte(`{"title":"R&D","n":2.50}`)
	legacy, _ := legacyCanonicalJSON(rec) // {"n":2.50,"title":"R\u0026D"}
	if _, ok := recordHashMatches(rec, sha256Hex([]byte(`{"n":2.5,"title":"R&D "}`))); ok {
		t.Fatal("a different hash matched")
	}
	sum := sha256Hex(legacy)
	if _, ok := recordHashMatches(rec, sum); !ok {
		t.Fatal("a legacy seal no longer verifies")
	}
	now, _ := RecordHash(rec)
	if _, ok := recordHashMatches(rec, now); !ok {
		t.Fatal("an RFC 8785 seal does not verify")
	}
}
