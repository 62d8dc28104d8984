package parsers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/phiwatch/phiwatch/internal/event"
)

// csvQuote quotes one CSV field the way the exports do.
func csvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// TestM365AuditCSVSameEventAsJSON reads every record of the m365-audit
// golden inputs both as the Management API delivers it and as a Purview
// export row: the events must be the same, id included, so a practice that
// loads an export over what was pulled gets no duplicates.
func TestM365AuditCSVSameEventAsJSON(t *testing.T) {
	var lines [][]byte
	for _, f := range []string{"exchange.input", "azuread.input", "sharepoint.input"} {
		data, err := os.ReadFile(filepath.Join("testdata", "m365-audit", f))
		if err != nil {
			t.Fatal(err)
		}
		for l := range bytes.Lines(data) {
			if l = bytes.TrimSpace(l); len(l) > 0 {
				lines = append(lines, l)
			}
		}
	}
	var csv bytes.Buffer
	csv.WriteString("RecordId,CreationDate,RecordType,Operation,UserId,AuditData,AssociatedAdminUnits,AssociatedAdminUnitsNames\r\n")
	for _, l := range lines {
		csv.WriteString(`x,"2026-10-06T15:00:00.0000000Z ",2,Op,u,` + csvQuote(string(l)) + ",,\r\n")
	}
	var fromCSV []event.Event
	err := M365AuditCSV{}.Frame(bytes.NewReader(csv.Bytes()), func(b []byte, pos string) error {
		evs, err := M365AuditCSV{}.Parse(Record{Data: b, Tenant: "clinic-a", SourceName: "export", ReceivedAt: receivedAt})
		if err != nil {
			t.Errorf("row %s: %v", pos, err)
		}
		fromCSV = append(fromCSV, evs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fromCSV) != len(lines) {
		t.Fatalf("%d events from %d rows", len(fromCSV), len(lines))
	}
	for i, l := range lines {
		evs, err := M365Audit{}.Parse(Record{Data: l, Tenant: "clinic-a", SourceName: "export", ReceivedAt: receivedAt})
		if err != nil || len(evs) != 1 {
			t.Fatalf("line %d: %d events, %v", i, len(evs), err)
		}
		want, got := evs[0], fromCSV[i]
		if got.SourceSystem != "m365-audit-csv" {
			t.Errorf("line %d: source system %q", i, got.SourceSystem)
		}
		got.SourceSystem = want.SourceSystem
		if !reflect.DeepEqual(got, want) {
			t.Errorf("line %d: the export's event differs from the API's:\n got  %+v\n want %+v", i, got, want)
		}
	}
}

func TestM365AuditCSVGoldenEventsValid(t *testing.T) {
	checkGoldenEvents(t, M365AuditCSV{})
}

func TestSplitCSV(t *testing.T) {
	cases := []struct {
		row   string
		delim byte
		want  []string
		err   bool
	}{
		{`a,b,c`, ',', []string{"a", "b", "c"}, false},
		{`a,,c,`, ',', []string{"a", "", "c", ""}, false},
		{``, ',', []string{""}, false},
		{`"a,b","c""d",e`, ',', []string{"a,b", `c"d`, "e"}, false},
		{"\"line\r\nbreak\",x", ',', []string{"line\r\nbreak", "x"}, false},
		{`"{""a"":1}"`, ',', []string{`{"a":1}`}, false},
		{`ab"c,d`, ',', []string{`ab"c`, "d"}, false},   // a quote inside an unquoted field is text
		{`"ab"cd,e`, ',', []string{"abcd", "e"}, false}, // text after a closing quote is kept
		{`a;"b;c";d`, ';', []string{"a", "b;c", "d"}, false},
		{"a\tb", '\t', []string{"a", "b"}, false},
		{`a,"unterminated`, ',', []string{"a", "unterminated"}, true},
		{`""`, ',', []string{""}, false},
	}
	for _, c := range cases {
		got, err := splitCSV([]byte(c.row), c.delim)
		if !slices.Equal(got, c.want) || (err != nil) != c.err {
			t.Errorf("splitCSV(%q) = %q, %v; want %q, error %v", c.row, got, err, c.want, c.err)
		}
	}
	// joinCSV writes what splitCSV reads back.
	for _, fields := range [][]string{{"a", "b"}, {"a,b", `c"d`, "", " lead", "x\ny"}, {"semi;colon"}} {
		for _, d := range []byte{',', ';'} {
			got, err := splitCSV([]byte(joinCSV(fields, d)), d)
			if err != nil || !slices.Equal(got, fields) {
				t.Errorf("joinCSV(%q, %q) read back as %q, %v", fields, d, got, err)
			}
		}
	}
}

// frameAll frames input with the m365-audit-csv header check and returns
// the records and their positions.
func frameAll(t *testing.T, input []byte) (recs []string, pos []string) {
	t.Helper()
	err := frameCSV(bytes.NewReader(input), m365CSVHeaderCheck, func(b []byte, p string) error {
		recs = append(recs, string(b))
		pos = append(pos, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs, pos
}

func utf16Bytes(s string, big, bom bool) []byte {
	var b []byte
	if bom {
		if big {
			b = append(b, 0xFE, 0xFF)
		} else {
			b = append(b, 0xFF, 0xFE)
		}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if big {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return b
}

func TestFrameCSV(t *testing.T) {
	const hdr = "CreationDate,UserIds,Operations,AuditData"
	text := hdr + "\n1,u,op,\"{\"\"a\"\":\n1}\"\n\n2,u,op,x\n"
	cases := []struct {
		name  string
		input []byte
		recs  []string
		pos   []string
	}{
		{"plain, a quoted line break, a blank line", []byte(text),
			[]string{hdr + "\n1,u,op,\"{\"\"a\"\":\n1}\"", hdr + "\n2,u,op,x"}, []string{"2", "5"}},
		{"CRLF and BOM", []byte("\xEF\xBB\xBF" + strings.ReplaceAll(text, "\n", "\r\n")),
			[]string{hdr + "\n1,u,op,\"{\"\"a\"\":\r\n1}\"", hdr + "\n2,u,op,x"}, []string{"2", "5"}},
		{"UTF-16LE with BOM", utf16Bytes(text, false, true),
			[]string{hdr + "\n1,u,op,\"{\"\"a\"\":\n1}\"", hdr + "\n2,u,op,x"}, []string{"2", "5"}},
		{"UTF-16LE without BOM", utf16Bytes(text, false, false),
			[]string{hdr + "\n1,u,op,\"{\"\"a\"\":\n1}\"", hdr + "\n2,u,op,x"}, []string{"2", "5"}},
		{"UTF-16BE with BOM", utf16Bytes(text, true, true),
			[]string{hdr + "\n1,u,op,\"{\"\"a\"\":\n1}\"", hdr + "\n2,u,op,x"}, []string{"2", "5"}},
		{"#TYPE and sep= preambles", []byte("#TYPE X.Y\nsep=;\nCreationDate;AuditData\n1;\"a;b\"\n"),
			[]string{"sep=;\nCreationDate;AuditData\n1;\"a;b\""}, []string{"4"}},
		{"a second export's header mid-file", []byte(hdr + "\n1,u,op,x\nRecordId,AuditData\nr,y\n"),
			[]string{hdr + "\n1,u,op,x", "RecordId,AuditData\nr,y"}, []string{"2", "4"}},
		{"a repeated #TYPE starts a new table", []byte("#TYPE A\n" + hdr + "\n1,u,op,x\n#TYPE A\n" + hdr + "\n2,u,op,y\n"),
			[]string{hdr + "\n1,u,op,x", hdr + "\n2,u,op,y"}, []string{"3", "6"}},
		{"a header alone is an empty export", []byte(hdr + "\r\n"), nil, nil},
		{"a wrong header alone is handed on", []byte("Received,Sender\r\n"), []string{"Received,Sender"}, []string{"1"}},
		{"an unterminated quote runs to the end", []byte(hdr + "\n1,u,op,\"x\n2,u,op,y\n"),
			[]string{hdr + "\n1,u,op,\"x\n2,u,op,y"}, []string{"2"}},
		{"no final line break", []byte(hdr + "\n1,u,op,x"), []string{hdr + "\n1,u,op,x"}, []string{"2"}},
		{"empty", nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, pos := frameAll(t, c.input)
			if !slices.Equal(recs, c.recs) || !slices.Equal(pos, c.pos) {
				t.Errorf("records %q at %v, want %q at %v", recs, pos, c.recs, c.pos)
			}
		})
	}
}

// TestFrameCSVLongRow: a row longer than maxCSVRow is cut there and handed
// on (its parser rejects it, naming the limit); an unterminated quote costs
// at most that much, and the rows after it are read again.
func TestFrameCSVLongRow(t *testing.T) {
	const hdr = "CreationDate,UserIds,Operations,AuditData"
	input := hdr + "\n1,u,op,\"" + strings.Repeat("x", maxCSVRow+10) + "\n2,u,op,y\n"
	recs, pos := frameAll(t, []byte(input))
	if len(recs) != 2 || pos[0] != "2" || pos[1] != "3" || recs[1] != hdr+"\n2,u,op,y" {
		t.Fatalf("%d records at %v", len(recs), pos)
	}
	if n := len(recs[0]) - len(hdr) - 1; n != maxCSVRow {
		t.Errorf("cut row is %d bytes, want %d", n, maxCSVRow)
	}
	_, err := M365AuditCSV{}.Parse(Record{Data: []byte(recs[0]), Tenant: "t", ReceivedAt: receivedAt})
	if err == nil || !strings.Contains(err.Error(), "longer than 1 MiB") {
		t.Errorf("cut row: %v", err)
	}
}

func TestUTF8Reader(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"utf-8", []byte("héllo"), "héllo"},
		{"utf-8 BOM", []byte("\xEF\xBB\xBFa,b"), "a,b"},
		{"utf-16le surrogate pair", utf16Bytes("a😀b,c", false, true), "a😀b,c"},
		{"utf-16be", utf16Bytes("Größe,x", true, true), "Größe,x"},
		{"utf-16le odd last byte", append(utf16Bytes("ab", false, true), 'c'), "ab\uFFFD"},
		{"utf-16le lone high surrogate", append(utf16Bytes("a", false, true), 0x3D, 0xD8, 'b', 0), "a\uFFFDb"},
		{"utf-16le lone low surrogate", append(utf16Bytes("a", false, true), 0x00, 0xDC), "a\uFFFD"},
	} {
		var out bytes.Buffer
		if _, err := out.ReadFrom(newUTF8Reader(bytes.NewReader(c.in), 16)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if out.String() != c.want {
			t.Errorf("%s: read %q, want %q", c.name, out.String(), c.want)
		}
	}
	// A long UTF-16 input decodes across the reader's internal buffers.
	long := strings.Repeat("0123456789é,", 5000)
	var out bytes.Buffer
	out.ReadFrom(bufio.NewReaderSize(newUTF8Reader(bytes.NewReader(utf16Bytes(long, false, false)), 64), 16))
	if out.String() != long {
		t.Errorf("long UTF-16 input decoded to %d bytes, want %d", out.Len(), len(long))
	}
}

func TestM365AuditCSVErrors(t *testing.T) {
	login := `{"CreationTime":"2026-10-07T08:01:02","Id":"x1","Operation":"UserLoggedIn","UserId":"u@riverside.example"}`
	cases := []struct {
		name, input, want string
	}{
		{"empty", "", "empty record"},
		{"json", login, "the input is JSON, not a CSV export: no AuditData column"},
		{"no AuditData column", "A,B\n1,2", "no AuditData column"},
		{"empty AuditData", "CreationDate,AuditData\n1,", "the AuditData column is empty"},
		{"short row", "CreationDate,UserIds,AuditData\n1", "ends before AuditData, column 3 of 3"},
		{"bad JSON", "CreationDate,AuditData\n1,\"{\"\"CreationTime\"\":\"", "AuditData column: not an M365 audit record: invalid JSON"},
		{"two bad rows", "CreationDate,AuditData\n1,\n2,{}", "2 of 2 rows unreadable: line 2: the AuditData column is empty; line 3: AuditData column: M365 audit record: CreationTime is missing"},
	}
	for _, c := range cases {
		_, err := M365AuditCSV{}.Parse(Record{Data: []byte(c.input), Tenant: "t", ReceivedAt: receivedAt})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// A whole export parses too; the good rows are kept beside the error.
	evs, err := M365AuditCSV{}.Parse(Record{Data: []byte("CreationDate,AuditData\n1," + csvQuote(login) + "\n2,\n"), Tenant: "t", ReceivedAt: receivedAt})
	if len(evs) != 1 || err == nil || !strings.Contains(err.Error(), "line 3: the AuditData column is empty") {
		t.Errorf("whole export: %d events, %v", len(evs), err)
	}
	var jerr *jsonError
	_, err = M365AuditCSV{}.Parse(Record{Data: []byte("AuditData\n\"{\"\"a\"\":\"")})
	if !errors.As(err, &jerr) {
		t.Errorf("the JSON error is not wrapped: %v", err)
	}
}

func FuzzM365AuditCSV(f *testing.F) {
	addGoldenSeeds(f, "m365-audit-csv")
	f.Add([]byte("sep=;\nCreationDate;AuditData\n1;\"{\"\"CreationTime\"\":\"\"2026-10-06T15:00:00\"\",\"\"Operation\"\":\"\"Send\"\",\"\"UserId\"\":\"\"u\"\"}\""))
	f.Add([]byte("AuditData\n\"x\n\"\"\nAuditData\n{}\n#TYPE\n"))
	f.Add(utf16Bytes("AuditData\r\n\"{}\"\r\n", false, false))
	// Found by fuzzing: JSON first, then a valid header. The JSON row is a
	// bad header, the next row a good one; Parse once rejected the whole
	// input as JSON while Frame read the row under the second header.
	f.Add([]byte("{\n,,,,,AuditDAtA \n,0,,,,\"{\"\"CreAtionTime\"\":\"\"0000-10-01 00:00:00\"\",\"\"OperAtion\"\":\"\"0\"\",\"\"UserId\"\":\"\"0\"\"}\""))
	p := M365AuditCSV{}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzFramed(t, p, data, func(e event.Event) error {
			if !json.Valid([]byte(e.Raw)) {
				return errors.New("raw is not the AuditData JSON")
			}
			if e.Actor.ID == "" {
				return errors.New("no actor")
			}
			return nil
		})
	})
}

func BenchmarkM365AuditCSVParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "m365-audit-csv", "purview-new.input"))
	if err != nil {
		b.Fatal(err)
	}
	var recs [][]byte
	if err := (M365AuditCSV{}).Frame(bytes.NewReader(data), func(rec []byte, _ string) error {
		recs = append(recs, rec)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	rec := Record{Tenant: "t", ReceivedAt: time.Now()}
	b.SetBytes(int64(len(data) / len(recs)))
	for i := 0; b.Loop(); i++ {
		rec.Data = recs[i%len(recs)]
		if _, err := (M365AuditCSV{}).Parse(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
