package vectors

import (
	"bytes"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "regenerate the vector files from the encoders instead of checking them")

// golden checks that doc, which a test generated from its inputs with the
// encoders of today, is exactly the file name (or writes it with
// -rewrite), and returns the file's bytes for the checks that read the
// file alone.
func golden(t *testing.T, name string, doc any) []byte {
	t.Helper()
	want, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatalf("marshal %s: %v", name, err)
	}
	want = append(want, '\n')
	if *rewrite {
		if err := os.WriteFile(name, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return want
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test ./docs/vectors -rewrite to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the code produces now (first difference at byte %d); "+
			"if the wire change is deliberate, run go test ./docs/vectors -rewrite and review the diff",
			name, firstDiff(got, want))
	}
	return got
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// load decodes a vector file into doc, numbers kept exact.
func load(t *testing.T, file []byte, doc any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(file))
	d.UseNumber()
	d.DisallowUnknownFields()
	if err := d.Decode(doc); err != nil {
		t.Fatalf("read vectors: %v", err)
	}
}

// hexOf is lower-case hex, as in the vector files.
func hexOf(b []byte) string { return hex.EncodeToString(b) }

// unhex decodes a hex field of a vector.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// errorName returns the name of the first of the named sentinels err
// wraps, or "" (and the test fails) for none.
func errorName(t *testing.T, err error, names map[string]error) string {
	t.Helper()
	if err == nil {
		t.Fatalf("no error")
	}
	var found []string
	for n, s := range names {
		if errors.Is(err, s) {
			found = append(found, n)
		}
	}
	if len(found) != 1 {
		t.Fatalf("error %v wraps %d of the named sentinels (%v), want exactly one", err, len(found), found)
	}
	return found[0]
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
	textType     = reflect.TypeFor[encoding.TextMarshaler]()
)

// fieldsOf turns a value of a wire type into plain JSON data: exported
// struct fields by their Go names, byte arrays and slices as hex,
// durations as whole units ("250ms", "1500us"), times as RFC 3339 in UTC,
// and types with a text form in that form.
func fieldsOf(v reflect.Value) any {
	t := v.Type()
	switch {
	case t == durationType:
		return durationText(time.Duration(v.Int()))
	case t == timeType:
		return v.Interface().(time.Time).UTC().Format(time.RFC3339Nano)
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && t.Implements(textType):
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return fieldsOf(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				m[f.Name] = fieldsOf(v.Field(i))
			}
		}
		return m
	case reflect.Array, reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return hex.EncodeToString(b)
		}
		if t.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = fieldsOf(v.Index(i))
		}
		return out
	case reflect.Bool:
		return v.Bool()
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return json.Number(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return json.Number(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return json.Number(strconv.FormatFloat(v.Float(), 'g', -1, 64))
	}
	panic("vectors: no JSON form for " + t.String())
}

// durationText writes d as a whole number of its largest exact unit of
// s, ms, us and ns ("250ms", "1500us"), which time.ParseDuration reads.
func durationText(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}} {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// setFields is the inverse of fieldsOf: it fills v (settable) from data
// read with json.Decoder.UseNumber.
func setFields(v reflect.Value, data any) error {
	t := v.Type()
	switch {
	case t == durationType:
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("%v: want a duration string", data)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	case t == timeType:
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("%v: want a time string", data)
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(tm))
		return nil
	case t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()):
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("%v: want a string for %v", data, t)
		}
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	switch t.Kind() {
	case reflect.Pointer:
		if data == nil {
			v.SetZero()
			return nil
		}
		p := reflect.New(t.Elem())
		if err := setFields(p.Elem(), data); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		m, ok := data.(map[string]any)
		if !ok {
			return fmt.Errorf("%v: want an object for %v", data, t)
		}
		for name, val := range m {
			f, ok := t.FieldByName(name)
			if !ok || !f.IsExported() {
				return fmt.Errorf("%v has no field %s", t, name)
			}
			if err := setFields(v.FieldByIndex(f.Index), val); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	case reflect.Array, reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := data.(string)
			if !ok {
				return fmt.Errorf("%v: want hex", data)
			}
			b, err := hex.DecodeString(s)
			if err != nil {
				return err
			}
			if t.Kind() == reflect.Array {
				if len(b) != t.Len() {
					return fmt.Errorf("%d bytes for a %v", len(b), t)
				}
				reflect.Copy(v, reflect.ValueOf(b))
			} else {
				v.SetBytes(b)
			}
			return nil
		}
		list, ok := data.([]any)
		if !ok {
			return fmt.Errorf("%v: want a list", data)
		}
		if t.Kind() == reflect.Slice {
			v.Set(reflect.MakeSlice(t, len(list), len(list)))
		} else if len(list) != t.Len() {
			return fmt.Errorf("%d elements for a %v", len(list), t)
		}
		for i, e := range list {
			if err := setFields(v.Index(i), e); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case reflect.Bool:
		b, ok := data.(bool)
		if !ok {
			return fmt.Errorf("%v: want a boolean", data)
		}
		v.SetBool(b)
		return nil
	case reflect.String:
		s, ok := data.(string)
		if !ok {
			return fmt.Errorf("%v: want a string", data)
		}
		v.SetString(s)
		return nil
	}
	n, ok := data.(json.Number)
	if !ok {
		return fmt.Errorf("%v: want a number for %v", data, t)
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(string(n), 10, t.Bits())
		if err != nil {
			return err
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(string(n), 10, t.Bits())
		if err != nil {
			return err
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("no JSON form for %v", t)
	}
	return nil
}

// sameFields compares a decoded value with the fields a vector lists.
func sameFields(t *testing.T, what string, got reflect.Value, want any) {
	t.Helper()
	g, err := json.Marshal(fieldsOf(got))
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s: decoded fields\n%s\nwant\n%s", what, g, w)
	}
}
