package web

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// A form's inputs are named by the JSON paths of the API's body
// ("problem.where", "actions[1].owner"): the form decodes into that body
// by those names, and the API's 422, which names the same path, lands
// next to the input it is about. The form holds no validation of its
// own: no required, no min or max — the API says what is wrong.

// Input types.
const (
	inText     = "text"
	inTextarea = "textarea"
	inNumber   = "number"
	inSelect   = "select"
	inYesNo    = "yesno" // a *bool: two radio buttons
	inCheck    = "checkbox"
	inLines    = "lines" // a []string: one per line
	inDate     = "date"
	inDateTime = "datetime-local" // read as UTC
	inPassword = "password"
	inHidden   = "hidden"
	inEmail    = "email"
	inURL      = "url"
	inMonth    = "month"  // YYYY-MM
	inChecks   = "checks" // a []string: a checkbox per option
	inGroup    = "group"  // repeated rows of Fields, named name[i].field
	inSet      = "set"    // a fieldset of Fields, named as they are
)

// Field is one input of a form, or a group of repeated rows.
type Field struct {
	Name    string
	Label   string
	Type    string
	Help    string
	Options []Option
	// Value is the default, or the fixed value of a hidden input.
	Value string
	// Rows is a group's number of rows (empty rows are left out), or a
	// textarea's height.
	Rows         int
	Fields       []Field
	Autocomplete string
	// Local is an input the web app checks itself and never sends (a new
	// password typed twice).
	Local bool
}

// Option is one choice of a select.
type Option struct{ Value, Label string }

func opts[S ~string](values []S) []Option {
	out := make([]Option, len(values))
	for i, v := range values {
		out[i] = Option{Value: string(v), Label: strings.ReplaceAll(string(v), "_", " ")}
	}
	return out
}

// Form styles.
const (
	styleDanger = "danger" // cancel: set apart
	styleDialog = "dialog" // the signing dialog
	styleInline = "inline" // a task's buttons
)

// Form is one form of a page: what it posts where, its inputs, and after
// a refused post what was typed and what the API said.
type Form struct {
	ID     string
	Title  string
	Doc    string
	Action string
	Submit string
	// For names what the button acts on when a page has one form per row
	// ("capa-12"): screen readers hear "Retry capa-12", the eye sees
	// "Retry" in the row.
	For    string
	Style  string
	Fields []Field

	Values  url.Values
	Error   *opsflow.Error
	Renames map[string]string // a compacted JSON path → the form's own ("actions[0]" → "actions[2]")
	Key     string            // the Idempotency-Key the post carries
	CSRF    string
	Back    string // where to go once it is done, when not the record's page
	Verb    string // a task step's verb (start, complete, block, skip, retry)
	Open    bool   // a dialog or a folded form shown open (it holds an error)
	// Plain is a form the browser posts itself, without htmx, whose
	// answer is a whole page: one that shows a token's secret answers
	// with it rather than with a redirect, so the secret is in that one
	// answer and in no cookie, URL or later page.
	Plain bool
}

// ---- decoding a form into the API's body

var indexRE = regexp.MustCompile(`^\[(\d+)\]`)

// decodeForm turns posted values into the JSON of the body type t. Empty
// inputs are left out (the API says whether they were needed); empty rows
// of a group are dropped, and renames records how the remaining rows were
// renumbered so the API's field names can be mapped back to the inputs.
func decodeForm(t reflect.Type, vals url.Values) (body []byte, renames map[string]string, err error) {
	d := decoder{vals: vals, renames: map[string]string{}}
	v, present, err := d.value(t, "")
	if err != nil {
		return nil, d.renames, err
	}
	if !present {
		v = map[string]any{}
	}
	body, err = json.Marshal(v)
	if err != nil {
		return nil, d.renames, fmt.Errorf("web: encode form: %w", err)
	}
	return body, d.renames, nil
}

// entries reads a map's entries: the inputs named key.<entry> (a KPI's
// rules.beyond_limits), each one level deep; empty ones are left out.
func (d *decoder) entries(elem reflect.Type, key string) (any, bool, error) {
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(d.vals)) {
		entry, ok := strings.CutPrefix(name, key+".")
		if !ok || entry == "" || strings.ContainsAny(entry, ".[") {
			continue
		}
		v, present, err := d.value(elem, name)
		if err != nil {
			return nil, false, err
		}
		if present {
			out[entry] = v
		}
	}
	return out, len(out) > 0, nil
}

// secret reports whether the form key holds a password (signing_password,
// new_password, …).
func secret(key string) bool {
	return strings.HasSuffix(key, "password")
}

type decoder struct {
	vals    url.Values
	renames map[string]string
}

var timeType = reflect.TypeFor[time.Time]()

func (d *decoder) value(t reflect.Type, key string) (any, bool, error) {
	switch {
	case t == timeType:
		s := strings.TrimSpace(d.vals.Get(key))
		if s == "" {
			return nil, false, nil
		}
		at, ok := parseFormTime(s)
		if !ok {
			return nil, false, opsflow.Invalid(key, "enter a date, or a date and time (UTC)")
		}
		return at.Format(time.RFC3339), true, nil
	case t.Kind() == reflect.Pointer:
		return d.value(t.Elem(), key)
	case t.Kind() == reflect.Struct:
		return d.object(t, key)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		return d.entries(t.Elem(), key)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && t.Elem() != timeType:
		return d.rows(t.Elem(), key)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		var out []string
		for _, v := range d.vals[key] {
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					out = append(out, line)
				}
			}
		}
		return out, len(out) > 0, nil
	case t.Kind() == reflect.String && secret(key):
		// A password is sent as typed: spaces are part of it, and the API
		// (curl, the CLI) compares it untrimmed.
		s := d.vals.Get(key)
		return s, s != "", nil
	case t.Kind() == reflect.String:
		s := strings.TrimSpace(strings.ReplaceAll(d.vals.Get(key), "\r\n", "\n"))
		return s, s != "", nil
	case t.Kind() == reflect.Bool:
		switch strings.ToLower(strings.TrimSpace(d.vals.Get(key))) {
		case "":
			return nil, false, nil
		case "true", "on", "yes":
			return true, true, nil
		case "false", "off", "no":
			return false, true, nil
		}
		return nil, false, opsflow.Invalid(key, "choose yes or no")
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		s := strings.TrimSpace(d.vals.Get(key))
		if s == "" {
			return nil, false, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, false, opsflow.Invalid(key, "enter a whole number")
		}
		return n, true, nil
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s := strings.TrimSpace(strings.ReplaceAll(d.vals.Get(key), ",", "."))
		if s == "" {
			return nil, false, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			// NaN, Inf and 1e999 parse, but no JSON carries them.
			return nil, false, opsflow.Invalid(key, "enter a number")
		}
		return f, true, nil
	}
	return nil, false, nil // maps and the like: no form sets them
}

func (d *decoder) object(t reflect.Type, prefix string) (any, bool, error) {
	m := map[string]any{}
	for _, f := range jsonFields(t) {
		key := f.name
		if prefix != "" {
			key = prefix + "." + f.name
		}
		if f.inline {
			key = prefix
		}
		v, ok, err := d.value(f.typ, key)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		if f.inline {
			for k, x := range v.(map[string]any) {
				m[k] = x
			}
			continue
		}
		m[f.name] = v
	}
	return m, len(m) > 0, nil
}

// rows decodes a group: key[0].…, key[1].…, in index order, dropping rows
// left empty.
func (d *decoder) rows(t reflect.Type, key string) (any, bool, error) {
	var idx []int
	for k := range d.vals {
		rest, ok := strings.CutPrefix(k, key)
		if !ok {
			continue
		}
		if m := indexRE.FindStringSubmatch(rest); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n < 1000 && !slices.Contains(idx, n) {
				idx = append(idx, n)
			}
		}
	}
	slices.Sort(idx)
	var out []any
	for _, i := range idx {
		v, ok, err := d.value(t, fmt.Sprintf("%s[%d]", key, i))
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		if n := len(out); n != i {
			d.renames[fmt.Sprintf("%s[%d]", key, n)] = fmt.Sprintf("%s[%d]", key, i)
		}
		out = append(out, v)
	}
	return out, len(out) > 0, nil
}

type jsonField struct {
	name   string
	typ    reflect.Type
	inline bool // an embedded struct whose fields are the parent's
}

// jsonFields lists a struct's fields as encoding/json names them.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonField{typ: ft, inline: true})
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type})
	}
	return out
}

// parseFormTime reads what date and datetime-local inputs send (and RFC
// 3339), as UTC.
func parseFormTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// hasPath reports whether the body type t has the JSON path name (a
// form's input name, group rows written name[0]): forms are checked
// against their bodies by a test.
func hasPath(t reflect.Type, name string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name == "" {
		return true
	}
	if t.Kind() == reflect.Slice {
		rest := indexRE.ReplaceAllString(name, "")
		rest = strings.TrimPrefix(rest, ".")
		return hasPath(t.Elem(), rest)
	}
	if t.Kind() == reflect.Map && t.Key().Kind() == reflect.String {
		_, rest, _ := strings.Cut(name, ".") // the first segment is the entry's key
		return !strings.Contains(strings.SplitN(name, ".", 2)[0], "[") && hasPath(t.Elem(), rest)
	}
	if t.Kind() != reflect.Struct || t == timeType {
		return false
	}
	head, rest := name, ""
	if i := strings.IndexAny(name, ".["); i >= 0 {
		head, rest = name[:i], strings.TrimPrefix(name[i:], ".")
	}
	for _, f := range jsonFields(t) {
		if f.inline {
			if hasPath(f.typ, name) {
				return true
			}
			continue
		}
		if f.name == head {
			return hasPath(f.typ, rest)
		}
	}
	return false
}

// ---- rendering

type formView struct {
	*Form
	Items   []item
	Summary []string // errors no input shows
}

type item struct {
	Input *inputView
	Group *groupView
	Set   *setView
}

// setView is a fieldset of inputs: one subject of a longer form.
type setView struct {
	ID, Legend, Help string
	Inputs           []inputView
}

type groupView struct {
	Name, ID, Legend, Help, Error string
	Rows                          []rowView
}

type rowView struct {
	Legend string
	Inputs []inputView
}

type inputView struct {
	Name, ID, Label, Type, Help, Value, Error, Autocomplete string
	Options                                                 []optionView
	Checked, Autofocus                                      bool
	Rows                                                    int
}

type optionView struct {
	Value, Label string
	Selected     bool
}

// domID joins parts into an HTML id: letters, digits, '_' and '-', each
// run of anything else one '-'. (A loop, not a regexp: a page of tasks
// makes a few thousand.)
func domID(parts ...string) string {
	var b strings.Builder
	dash := false
	for i, p := range parts {
		if i > 0 {
			dash = b.Len() > 0
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
				if dash {
					b.WriteByte('-')
					dash = false
				}
				b.WriteByte(c)
			} else {
				dash = b.Len() > 0
			}
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// view lays the form out for its template, placing the API's error next
// to the input it names (or its group, or in the summary).
func (f *Form) view() formView {
	v := formView{Form: f}
	for _, fd := range f.Fields {
		if fd.Type == inGroup {
			g := &groupView{Name: fd.Name, ID: domID("f", f.ID, fd.Name), Legend: fd.Label, Help: fd.Help}
			for i := range max(fd.Rows, 1) {
				row := rowView{Legend: fmt.Sprintf("%s %d", strings.TrimSuffix(fd.Label, "s"), i+1)}
				for _, sub := range fd.Fields {
					sub.Name = fmt.Sprintf("%s[%d].%s", fd.Name, i, sub.Name)
					row.Inputs = append(row.Inputs, f.input(sub))
				}
				g.Rows = append(g.Rows, row)
			}
			v.Items = append(v.Items, item{Group: g})
			continue
		}
		if fd.Type == inSet {
			set := &setView{ID: domID("f", f.ID, fd.Name), Legend: fd.Label, Help: fd.Help}
			for _, sub := range fd.Fields {
				set.Inputs = append(set.Inputs, f.input(sub))
			}
			v.Items = append(v.Items, item{Set: set})
			continue
		}
		in := f.input(fd)
		v.Items = append(v.Items, item{Input: &in})
	}
	if e := f.Error; e != nil {
		field := e.Field
		if to, ok := renamed(f.Renames, field); ok {
			field = to
		}
		if !v.place(field, e.Message) {
			msg := e.Message
			if field != "" && !strings.Contains(msg, field) {
				msg = field + ": " + msg
			}
			v.Summary = append(v.Summary, msg)
		}
	}
	return v
}

// renamed maps a compacted path ("actions[0].owner") back to the form's
// row ("actions[2].owner").
func renamed(renames map[string]string, field string) (string, bool) {
	best := ""
	for from := range renames {
		if (field == from || strings.HasPrefix(field, from+".") || strings.HasPrefix(field, from+"[")) && len(from) > len(best) {
			best = from
		}
	}
	if best == "" {
		return field, false
	}
	return renames[best] + strings.TrimPrefix(field, best), true
}

// place puts an error on the input it names, or the first input below
// it ("actions[0].due" → "actions[0].due_days"), or its group.
func (v *formView) place(field, msg string) bool {
	if field == "" {
		return false
	}
	under := func(name string) bool {
		return name == field || strings.HasPrefix(name, field+".") || strings.HasPrefix(name, field+"[") || strings.HasPrefix(name, field+"_")
	}
	for _, it := range v.Items {
		if in := it.Input; in != nil && in.Type != inHidden && under(in.Name) {
			in.Error, in.Autofocus = msg, true
			return true
		}
		if set := it.Set; set != nil {
			for i := range set.Inputs {
				if in := &set.Inputs[i]; in.Type != inHidden && under(in.Name) {
					in.Error, in.Autofocus = msg, true
					return true
				}
			}
		}
		if g := it.Group; g != nil {
			if g.Name == field {
				g.Error = msg
				return true
			}
			for r := range g.Rows {
				for i := range g.Rows[r].Inputs {
					if in := &g.Rows[r].Inputs[i]; under(in.Name) {
						in.Error, in.Autofocus = msg, true
						return true
					}
				}
			}
		}
	}
	return false
}

func (f *Form) input(fd Field) inputView {
	in := inputView{Name: fd.Name, ID: domID("f", f.ID, fd.Name), Label: fd.Label, Type: fd.Type, Help: fd.Help,
		Rows: fd.Rows, Autocomplete: fd.Autocomplete}
	typed := f.Values != nil
	val := fd.Value
	switch {
	case fd.Type == inHidden || fd.Type == inPassword:
		if fd.Type == inPassword {
			val = "" // a credential is never sent back
		}
	case (fd.Type == inLines || fd.Type == inChecks) && typed:
		val = strings.Join(f.Values[fd.Name], "\n")
	case typed:
		val = f.Values.Get(fd.Name)
	}
	in.Value = val
	switch fd.Type {
	case inCheck:
		in.Checked = val != "" && val != "false"
		in.Value = "true"
	case inYesNo:
		in.Options = []optionView{{Value: "true", Label: "Yes", Selected: val == "true"}, {Value: "false", Label: "No", Selected: val == "false"}}
	case inSelect:
		in.Options = append(in.Options, optionView{Value: "", Label: "—", Selected: val == ""})
		for _, o := range fd.Options {
			in.Options = append(in.Options, optionView{Value: o.Value, Label: o.Label, Selected: o.Value == val})
		}
	case inChecks:
		on := strings.Split(val, "\n")
		for _, o := range fd.Options {
			in.Options = append(in.Options, optionView{Value: o.Value, Label: o.Label, Selected: slices.Contains(on, o.Value)})
		}
	}
	return in
}
