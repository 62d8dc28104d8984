package parsers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/phiwatch/phiwatch/internal/event"
)

// M365AuditCSV reads the CSV that a Microsoft Purview audit log search
// exports, and that Search-UnifiedAuditLog | Export-Csv writes: one row per
// Unified Audit Log record, the record itself as JSON in the AuditData
// column. Classic exports have the columns CreationDate, UserIds,
// Operations, AuditData; the newer ones add RecordId, RecordType, Operation,
// UserId, AssociatedAdminUnits…, and Export-Csv adds RunspaceId, Identity,
// ResultIndex, ResultCount… Only AuditData is read: the other columns repeat
// it.
//
// Each row is mapped by the m365-audit parser's mapping, so a record read
// from an export is the same event as the record pulled from the
// Management Activity API: same action, attrs and raw (the AuditData JSON),
// and the same event id, computed under m365-audit's source system so the
// two collapse in the store. SourceSystem says which format it was read
// from.
//
// Framing: the header is read once; each data row is one record (the header
// row and the row, so the record parses and replays on its own). Quoted
// fields may hold quotes and line breaks; a UTF-8 BOM, UTF-16 text, CRLF
// line ends, a "#TYPE" line and a "sep=" line are handled. A row without
// readable AuditData is an error naming the column.
type M365AuditCSV struct{}

// Name implements Parser.
func (M365AuditCSV) Name() string { return "m365-audit-csv" }

// Kind implements Parser.
func (M365AuditCSV) Kind() event.SourceKind { return event.KindEmail }

// Description implements Parser.
func (M365AuditCSV) Description() string {
	return "Microsoft Purview audit log search CSV export (Search-UnifiedAuditLog): the AuditData column, mapped as m365-audit"
}

// Frame implements Framer.
func (M365AuditCSV) Frame(r io.Reader, emit func(data []byte, position string) error) error {
	return frameCSV(r, m365CSVHeaderCheck, emit)
}

// Parse implements Parser. The record is a header row and one data row as
// Frame hands them on, or a whole export (each row is then mapped; the
// errors of unreadable rows name their lines).
func (p M365AuditCSV) Parse(rec Record) ([]event.Event, error) {
	data := bytes.TrimSpace(bytes.TrimPrefix(rec.Data, utf8BOM))
	if len(data) == 0 {
		return nil, errors.New("empty record (is the input truncated?)")
	}
	return parseCSVRecord(rec.Data, m365CSVHeaderCheck, func(h *csvHeader, _ csvRow, fields []string) ([]event.Event, error) {
		ev, err := p.row(rec, h, fields)
		if err != nil {
			return nil, err
		}
		return []event.Event{ev}, nil
	})
}

func (p M365AuditCSV) row(rec Record, h *csvHeader, fields []string) (event.Event, error) {
	col := h.col("auditdata")
	if col >= len(fields) {
		return event.Event{}, fmt.Errorf("the row has %d columns and ends before AuditData, column %d of %d (is the row cut short?)", len(fields), col+1, len(h.fields))
	}
	data := strings.TrimSpace(fields[col])
	if data == "" {
		return event.Event{}, errors.New("the AuditData column is empty")
	}
	ev, err := M365Audit{}.record(rec, []byte(data))
	if err != nil {
		return event.Event{}, fmt.Errorf("AuditData column: %w", err)
	}
	// The event id stays m365-audit's: the same record from the API and
	// from an export is one event.
	ev.SourceSystem = p.Name()
	return ev, nil
}

// m365CSVHeaderCheck accepts a header with an AuditData column.
func m365CSVHeaderCheck(norm []string) error {
	for _, c := range norm {
		if c == "auditdata" {
			return nil
		}
	}
	return errors.New("no AuditData column: expected a Purview audit search export (CreationDate, UserIds, Operations, AuditData); records from the Management Activity API (JSON) are read with --format m365-audit")
}
