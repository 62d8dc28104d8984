package identity

import "testing"

// Whatever an event's actor id holds, resolution answers with a link, an
// ambiguity or nothing, never a panic, and a link names a known person.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"dortiz", `RIVERSIDE\dortiz`, `\`, `a\`, "@", "x@", "@RIVERSIDE", "Practitioner/", "/Practitioner/77/_history/", "PractitionerRole/r1", "asmith"} {
		f.Add(s)
	}
	x := NewIndex("t", riverside())
	f.Fuzz(func(t *testing.T, actor string) {
		l := x.Resolve(actor)
		if l.Linked() {
			if _, ok := x.Person(l.UserID); !ok || l.Confidence <= 0 || l.Evidence == "" {
				t.Fatalf("Resolve(%q) = %+v", actor, l)
			}
		} else if l.Confidence != 0 || (l.Method != Unlinked && l.Method != Ambiguous) {
			t.Fatalf("Resolve(%q) = %+v", actor, l)
		}
	})
}
