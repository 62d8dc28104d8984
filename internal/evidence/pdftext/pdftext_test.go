package pdftext

import (
	"strings"
	"testing"
)

func TestShownStrings(t *testing.T) {
	content := `BT /F1 10 Tf 15 800 Td (Items in worklist:) Tj ET
BT 0 -12 Td [(Dec) -20 (ided)] TJ (not shown, no operator)
(nested \(paren\) and \\ back\134slash) Tj % a comment (ignored) Tj
(caf\351) Tj ET`
	got := strings.Join(shownStrings([]byte(content)), "|")
	want := `Items in worklist:|Decided|nested (paren) and \ back\slash|café`
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// The reader must not hang or panic on any content stream.
func FuzzShownStrings(f *testing.F) {
	f.Add([]byte(`BT (a) Tj [(b) 3 (c)] TJ ET`))
	f.Add([]byte(`(unterminated \`))
	f.Add([]byte(`((()) \777 ] [ Tj`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = shownStrings(b)
	})
}
