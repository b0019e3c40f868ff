package placeholder

import "testing"

func TestFill(t *testing.T) {
	tp, err := Parse("u={uid}&i={i} {x {} {seq}{ts}}", UID, I, Seq, TS)
	if err != nil {
		t.Fatal(err)
	}
	got := string(tp.Append(nil, &Values{UID: 42, I: 7, Seq: 3, TS: 1700000000000000000}))
	if want := "u=42&i=7 {x {} 31700000000000000000}"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if pre, ok := tp.Prefix(TS); ok {
		t.Fatalf("{ts} follows {uid}, yet Prefix found %q", pre)
	}
	at := mustParse(t, "at {ts}: {uid}")
	if pre, ok := at.Prefix(TS); !ok || pre != "at " {
		t.Fatalf("Prefix = %q, %v; want \"at \"", pre, ok)
	}
	if _, err := Parse("{uid}{seq}", UID); err == nil {
		t.Fatal("{seq} accepted where only {uid} is allowed")
	}
	s, _ := Parse("plain", UID)
	if string(s.Append(nil, &Values{})) != "plain" {
		t.Fatal("a template without placeholders is not itself")
	}
}

func BenchmarkAppend(b *testing.B) {
	tp, _ := Parse(`{"from":{uid},"seq":{seq},"ts":{ts},"body":"xxxxxxxxxxxxxxxx"}`, UID, Seq, TS)
	buf := make([]byte, 0, 128)
	v := Values{UID: 1, Seq: 2, TS: 3}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		v.Seq = uint64(i)
		buf = tp.Append(buf[:0], &v)
	}
}

func mustParse(t *testing.T, s string) Template {
	t.Helper()
	tp, err := Parse(s, UID, I, Seq, TS)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
