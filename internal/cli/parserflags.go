package cli

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/ingest/parsers"
)

// parserFlags configure a format: a column mapping for CSV exports, the
// practice's own mail domains, and (for parse; ingest has it with its syslog
// flags) the zone of timestamps that carry none.
type parserFlags struct {
	mapping, zone, domains string
}

func (f *parserFlags) register(fs *flag.FlagSet, withZone bool) {
	fs.StringVar(&f.mapping, "mapping", "", "column mapping for ehr-csv: a built-in name ("+strings.Join(parsers.EHRCSVMappings(), ", ")+") or a YAML file")
	fs.StringVar(&f.domains, "internal-domains", "", "the practice's own email domains, comma-separated: mail to others is external (message-trace, postfix, google-reports)")
	if withZone {
		fs.StringVar(&f.zone, "syslog-location", "", "time zone of timestamps that carry none (RFC 3164 syslog, Cisco ASA, CSV exports), e.g. America/Chicago; default UTC")
	}
}

// configure applies the flags to a parser, refusing flags it cannot take.
func (f *parserFlags) configure(p parsers.Parser) (parsers.Parser, error) {
	if f.mapping != "" {
		ms, ok := p.(parsers.MappingSetter)
		if !ok {
			return nil, fmt.Errorf("--mapping applies to formats read through a column mapping (ehr-csv); %s takes none", p.Name())
		}
		var err error
		if p, err = ms.WithMapping(f.mapping); err != nil {
			return nil, err
		}
	}
	if f.zone != "" {
		loc, err := time.LoadLocation(f.zone)
		if err != nil {
			return nil, fmt.Errorf("--syslog-location %q: %w", f.zone, err)
		}
		ls, ok := p.(parsers.LocationSetter)
		if !ok {
			return nil, fmt.Errorf("--syslog-location: %s records carry their own zone", p.Name())
		}
		p = ls.WithLocation(loc)
	}
	if f.domains != "" {
		ds, ok := p.(parsers.InternalDomainsSetter)
		if !ok {
			return nil, fmt.Errorf("--internal-domains applies to message-trace, postfix and google-reports; %s takes none", p.Name())
		}
		var list []string
		for _, d := range strings.Split(f.domains, ",") {
			if d = strings.TrimSpace(d); d != "" {
				list = append(list, d)
			}
		}
		p = ds.WithInternalDomains(list)
	}
	return p, nil
}
