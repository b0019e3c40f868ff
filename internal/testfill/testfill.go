// Package testfill sets every field of a value to something not zero, by
// reflection, for round-trip tests that must notice a field added later
// and forgotten on the way (an options struct sent to a child process, a
// record written and read back). It is for tests only.
package testfill

import (
	"encoding"
	"fmt"
	"reflect"
	"time"
)

// Fill sets every exported field reachable from ptr (a pointer) to a value
// that is not zero and differs from field to field. It returns the paths of
// the fields it could not fill (funcs, channels, interfaces), so the test
// can say which ones are meant not to travel.
func Fill(ptr any) (skipped []string) {
	f := &filler{}
	f.fill(reflect.ValueOf(ptr).Elem(), reflect.TypeOf(ptr).Elem().Name())
	return f.skipped
}

type filler struct {
	n       int
	skipped []string
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (f *filler) fill(v reflect.Value, path string) {
	f.n++
	n := f.n
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) && v.Kind() == reflect.Struct {
		// Opaque values with a text form (netip.Addr, time.Time): try the
		// forms of the usual suspects.
		u := v.Addr().Interface().(encoding.TextUnmarshaler)
		for _, text := range []string{fmt.Sprintf("127.0.%d.%d", n/250, 1+n%250), time.Unix(int64(n)*1000, 0).UTC().Format(time.RFC3339)} {
			if u.UnmarshalText([]byte(text)) == nil {
				return
			}
		}
		f.skipped = append(f.skipped, path)
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n%100 + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(n%100 + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(n) + 0.5)
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			f.fill(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		f.fill(k, path+"{key}")
		f.fill(e, path+"{value}")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				f.skipped = append(f.skipped, path+"."+sf.Name)
				continue
			}
			f.fill(v.Field(i), path+"."+sf.Name)
		}
	default: // funcs, channels, interfaces
		f.skipped = append(f.skipped, path)
	}
}
