// Package evidence builds the documents an auditor receives: CSV exports
// and PDF reports. The monthly log review, the access recertification and
// the compliance binder describe their evidence as a Report and rows, and
// this package lays them out the same way.
package evidence

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// WriteCSV writes an RFC 4180 CSV with a header row. A cell that a
// spreadsheet would read as a formula (starting with =, +, -, @, tab or
// CR) is prefixed with a single quote: evidence holds log data an attacker
// may have chosen.
func WriteCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write CSV header: %w", err)
	}
	rec := make([]string, len(header))
	for i, r := range rows {
		if len(r) != len(header) {
			return fmt.Errorf("CSV row %d has %d cells, the header %d", i+1, len(r), len(header))
		}
		for j, c := range r {
			rec[j] = SafeCell(c)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write CSV row %d: %w", i+1, err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// SafeCell neutralizes a leading formula character.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Report is a PDF report: a title block, then sections in order.
type Report struct {
	Title    string
	Subtitle string
	// Generated is printed on every page with the page number; also the
	// PDF's creation date, so the same report renders the same bytes.
	Generated time.Time
	Sections  []Section
}

// Section is a heading with key-value facts, paragraphs and a table, each
// optional, printed in that order.
type Section struct {
	Heading    string
	Facts      []Fact
	Paragraphs []string
	Table      *Table
}

// Fact is one "label: value" line.
type Fact struct{ Label, Value string }

// Table is a grid with a header row. Widths are relative (they are scaled
// to the page); cells longer than their column are cut with an ellipsis.
type Table struct {
	Header []string
	Widths []float64
	Rows   [][]string
}

const (
	margin   = 15.0
	lineH    = 5.0
	pageW    = 210.0 // A4 portrait, mm
	contentW = pageW - 2*margin
)

// WritePDF renders the report as an A4 PDF.
func WritePDF(w io.Writer, r Report) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin+5)
	pdf.SetCatalogSort(true) // deterministic bytes for the same report
	pdf.SetCreationDate(r.Generated)
	pdf.SetModificationDate(r.Generated)
	pdf.SetTitle(r.Title, true)
	pdf.SetCreator("phiwatch", true)
	pdf.AliasNbPages("{nb}")
	tr := pdf.UnicodeTranslatorFromDescriptor("") // UTF-8 → cp1252 of the core fonts
	pdf.SetFooterFunc(func() {
		pdf.SetY(-margin)
		pdf.SetFont("Helvetica", "I", 8)
		pdf.CellFormat(0, 5, tr(fmt.Sprintf("%s · generated %s · page %d of {nb}", r.Title, r.Generated.UTC().Format(time.RFC3339), pdf.PageNo())),
			"", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 16)
	pdf.MultiCell(0, 8, tr(r.Title), "", "L", false)
	if r.Subtitle != "" {
		pdf.SetFont("Helvetica", "", 11)
		pdf.MultiCell(0, 6, tr(r.Subtitle), "", "L", false)
	}
	pdf.Ln(3)
	for _, s := range r.Sections {
		section(pdf, tr, s)
	}
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("render PDF %q: %w", r.Title, err)
	}
	return pdf.Output(w)
}

func section(pdf *fpdf.Fpdf, tr func(string) string, s Section) {
	if s.Heading != "" {
		pdf.Ln(2)
		pdf.SetFont("Helvetica", "B", 12)
		pdf.MultiCell(0, 7, tr(s.Heading), "B", "L", false)
		pdf.Ln(1)
	}
	if len(s.Facts) > 0 {
		labelW := 0.0
		pdf.SetFont("Helvetica", "B", 10)
		for _, f := range s.Facts {
			labelW = max(labelW, pdf.GetStringWidth(tr(f.Label+":"))+3)
		}
		labelW = min(labelW, contentW/2)
		for _, f := range s.Facts {
			pdf.SetFont("Helvetica", "B", 10)
			pdf.CellFormat(labelW, lineH, tr(f.Label+":"), "", 0, "L", false, 0, "")
			pdf.SetFont("Helvetica", "", 10)
			pdf.MultiCell(0, lineH, tr(f.Value), "", "L", false)
		}
		pdf.Ln(1)
	}
	pdf.SetFont("Helvetica", "", 10)
	for _, p := range s.Paragraphs {
		pdf.MultiCell(0, lineH, tr(p), "", "L", false)
		pdf.Ln(1)
	}
	if s.Table != nil {
		table(pdf, tr, *s.Table)
	}
}

func table(pdf *fpdf.Fpdf, tr func(string) string, t Table) {
	if len(t.Header) == 0 {
		return
	}
	widths := make([]float64, len(t.Header))
	total := 0.0
	for i := range widths {
		widths[i] = 1
		if i < len(t.Widths) && t.Widths[i] > 0 {
			widths[i] = t.Widths[i]
		}
		total += widths[i]
	}
	for i := range widths {
		widths[i] = widths[i] / total * contentW
	}
	header := func() {
		pdf.SetFont("Helvetica", "B", 8)
		pdf.SetFillColor(225, 225, 225)
		row(pdf, tr, t.Header, widths, true)
		pdf.SetFont("Helvetica", "", 8)
	}
	header()
	_, pageH := pdf.GetPageSize()
	for _, r := range t.Rows {
		cells := make([]string, len(t.Header))
		copy(cells, r)
		if pdf.GetY()+rowHeight(pdf, tr, cells, widths) > pageH-margin-5 {
			pdf.AddPage()
			header()
		}
		row(pdf, tr, cells, widths, false)
	}
	if len(t.Rows) == 0 {
		pdf.CellFormat(contentW, lineH, "(none)", "1", 1, "L", false, 0, "")
	}
	pdf.Ln(2)
}

const cellLineH = 4.0

// cellLines wraps a cell's text to its column: evidence is never cut.
func cellLines(pdf *fpdf.Fpdf, tr func(string) string, s string, w float64) [][]byte {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(tr(s))
	if s == "" {
		return [][]byte{nil}
	}
	return pdf.SplitLines([]byte(s), w-2)
}

func rowHeight(pdf *fpdf.Fpdf, tr func(string) string, cells []string, widths []float64) float64 {
	n := 1
	for i, c := range cells {
		n = max(n, len(cellLines(pdf, tr, c, widths[i])))
	}
	return float64(n)*cellLineH + 1
}

// row draws one table row, every cell as tall as the tallest.
func row(pdf *fpdf.Fpdf, tr func(string) string, cells []string, widths []float64, fill bool) {
	h := rowHeight(pdf, tr, cells, widths)
	x, y := pdf.GetX(), pdf.GetY()
	for i, c := range cells {
		pdf.SetXY(x, y)
		style := "D"
		if fill {
			style = "FD"
		}
		pdf.Rect(x, y, widths[i], h, style)
		for j, line := range cellLines(pdf, tr, c, widths[i]) {
			pdf.SetXY(x, y+0.5+float64(j)*cellLineH)
			pdf.CellFormat(widths[i], cellLineH, string(line), "", 0, "L", false, 0, "")
		}
		x += widths[i]
	}
	pdf.SetXY(margin, y+h)
}
