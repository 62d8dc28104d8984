// Package parsers turns source records into normalized events. Each format
// lives in its own file with its own golden-file tests and fuzz target.
package parsers

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// Record is one raw source record and where it came from.
type Record struct {
	Data       []byte
	Origin     string    // "file.log:12", "udp 10.1.2.3:514", …
	Peer       string    // network address of the sender, for received records
	Tenant     string    // tenant the source belongs to (from config)
	SourceName string    // the configured source, e.g. "main-asa"
	ReceivedAt time.Time // when phiwatch received it
}

// Parser reads one format. Parse returns the events of one record (usually
// one; a FHIR Bundle holds several) or an error saying why the record is
// unreadable; it never panics on bad input (the fuzz targets hold it to that).
// When only part of a record is unreadable (one bad entry of a Bundle) it
// returns the readable events and an error together: the events are kept and
// the record is dead-lettered with the reason. Event ids are stable, so a
// replayed dead letter does not duplicate the events kept.
type Parser interface {
	Name() string
	Kind() event.SourceKind // "" when one format carries several kinds
	Description() string
	Parse(rec Record) ([]event.Event, error)
}

// Framer is implemented by formats whose records are not one per line (a
// pretty-printed FHIR Bundle, say). Frame reads r and calls emit once per
// record with its bytes and its position ("3" for line 3, "entry 2", …),
// which becomes "name:position" in origins. Formats without it are read a
// line at a time.
type Framer interface {
	Frame(r io.Reader, emit func(data []byte, position string) error) error
}

// All returns one of each parser, sorted by name.
func All() []Parser {
	ps := []Parser{
		Native{},
		CiscoASA{},
		FHIRAuditEvent{},
		M365Audit{},
		OpenVPN{},
		OpenVPNStatus{},
		FortiGate{},
		GlobalProtect{},
		PfSense{},
		M365AuditCSV{},
		MessageTrace{},
		GoogleReports{},
		Postfix{},
		defaultEHRCSV(),
		ATNA{},
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name() < ps[j].Name() })
	return ps
}

// Lookup finds a parser by name.
func Lookup(name string) (Parser, error) {
	var names []string
	for _, p := range All() {
		if p.Name() == name {
			return p, nil
		}
		names = append(names, p.Name())
	}
	return nil, fmt.Errorf("unknown format %q; known formats: %s", name, strings.Join(names, ", "))
}
