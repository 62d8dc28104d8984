package evidence

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/evidence/pdftext"
)

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	rows := [][]string{{"=HYPERLINK(\"x\")", "plain, with comma"}, {"-1", "line\nbreak"}, {"@SUM(A1)", "+1"}}
	if err := WriteCSV(&buf, []string{"a", "b"}, rows); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b"}, {"'=HYPERLINK(\"x\")", "plain, with comma"}, {"'-1", "line\nbreak"}, {"'@SUM(A1)", "'+1"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("CSV read back as %q, want %q", got, want)
	}
	if err := WriteCSV(&buf, []string{"a"}, [][]string{{"1", "2"}}); err == nil {
		t.Fatal("a row wider than the header was written")
	}
}

func TestWritePDF(t *testing.T) {
	var rows [][]string
	for i := range 120 { // more than a page: the header repeats
		rows = append(rows, []string{fmt.Sprint(i + 1), "reviewer-" + fmt.Sprint(i%3), strings.Repeat("long reason ", 20)})
	}
	r := Report{Title: "Evidence test report", Subtitle: "Tenant clinic · café", Generated: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Sections: []Section{
			{Heading: "Counts", Facts: []Fact{{"Items", "137"}, {"Decided", "136 of 137"}}},
			{Heading: "Method", Paragraphs: []string{"Ordered by SHA-256 (seed 4f2a), first 25."}},
			{Heading: "Items", Table: &Table{Header: []string{"#", "Reviewer", "Reason"}, Widths: []float64{0.5, 2, 5}, Rows: rows}},
			{Heading: "Empty", Table: &Table{Header: []string{"x"}}},
		}}
	var buf bytes.Buffer
	if err := WritePDF(&buf, r); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := WritePDF(&again, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("the same report rendered different bytes")
	}
	text, err := pdftext.Text(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Evidence test report", "Tenant clinic · café", "Items:", "137", "136 of 137", "seed 4f2a", "reviewer-2", "(none)", "page 1 of"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if pages := strings.Count(text, "\f") + 1; pages < 3 {
		t.Errorf("%d pages, want the 120-row table to span several", pages)
	}
	if strings.Count(text, "Reviewer") < 2 {
		t.Error("the table header is not repeated on the next page")
	}
	if t.Failed() {
		t.Logf("text:\n%s", text)
	}
}

// A month's report for a large practice: 1,000 items in the table.
func BenchmarkWritePDF1000Rows(b *testing.B) {
	var rows [][]string
	for i := range 1000 {
		rows = append(rows, []string{fmt.Sprint(i + 1), "case", "Person " + fmt.Sprint(i%40), "appropriate", "reviewer", "2026-11-03 10:00",
			"scheduled visit; chart opened by the treating nurse during the appointment"})
	}
	r := Report{Title: "Benchmark", Generated: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Sections: []Section{{Heading: "Items",
		Table: &Table{Header: []string{"#", "Kind", "Actor", "State", "Decided by", "Decided at", "Reason"}, Rows: rows}}}}
	for b.Loop() {
		var buf bytes.Buffer
		if err := WritePDF(&buf, r); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(buf.Len()))
	}
}
