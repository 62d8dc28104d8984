// Package enrich adds to parsed events what their sources do not say, before
// they are validated and published (see ingest.Pipeline.Enrich). Enrichment
// never fails an event: what cannot be looked up is left out.
package enrich

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/phiwatch/phiwatch/internal/event"
)

// The attributes GeoIP sets on events.
const (
	AttrCountry     = "geo_country"      // ISO 3166-1 alpha-2, e.g. "US"
	AttrCountryName = "geo_country_name" // e.g. "United States"
	AttrRegion      = "geo_region"       // first-level subdivision, e.g. "California"
	AttrCity        = "geo_city"
	AttrLat         = "geo_lat" // degrees, two decimals (about 1 km)
	AttrLon         = "geo_lon"
)

// maxEventAttrs keeps enrichment within event validation's limit on
// attributes (128), so adding the location never invalidates an event.
const maxEventAttrs = 128 - 6

// GeoIPOptions say where the location data comes from. At least one of
// MMDBPath and CSVPath is required; with both, the MaxMind database is
// asked first and the CSV answers for addresses it does not know.
type GeoIPOptions struct {
	// MMDBPath is a MaxMind DB file: GeoLite2-City.mmdb or
	// GeoLite2-Country.mmdb (free, with a MaxMind account), GeoIP2 City or
	// Country, or another database in the same layout (DB-IP lite).
	MMDBPath string
	// CSVPath is a CIDR table with the header
	// network,country_iso,country,region,city,latitude,longitude
	// (see docs/geoip.md); longest prefix wins, IPv4 and IPv6.
	CSVPath string
	// Language picks the names (country, region, city) from a MaxMind
	// database; default "en". Missing names fall back to English.
	Language string
	// IncludeDocumentationRanges looks up the documentation ranges
	// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) as if
	// public, for the demo and tests, whose data uses them.
	IncludeDocumentationRanges bool
}

// Location is what GeoIP knows about an address.
type Location struct {
	CountryISO, Country, Region, City string
	Lat, Lon                          float64
	HasCoords                         bool
}

// GeoIPStats counts lookups, for the operator's metrics.
type GeoIPStats struct {
	Looked  uint64 // public client addresses looked up
	Found   uint64 // of those, found in a database
	Skipped uint64 // events without a client address, or with a non-public one
	Errors  uint64 // lookups the MaxMind database failed (corrupt data)
}

// GeoIP looks up client addresses. It is safe for concurrent use; Close
// releases the MaxMind database.
type GeoIP struct {
	db       *maxminddb.Reader
	dbType   string
	csv      *cidrTable
	lang     string
	docRange bool

	looked, found, skipped, errs atomic.Uint64
}

// NewGeoIP opens the databases the options name. Errors name the file and,
// for the CSV, the line.
func NewGeoIP(opts GeoIPOptions) (*GeoIP, error) {
	if opts.MMDBPath == "" && opts.CSVPath == "" {
		return nil, errors.New("geoip: no database given (a MaxMind .mmdb file, a CIDR CSV, or both)")
	}
	g := &GeoIP{lang: opts.Language, docRange: opts.IncludeDocumentationRanges}
	if g.lang == "" {
		g.lang = "en"
	}
	if opts.MMDBPath != "" {
		db, err := maxminddb.Open(opts.MMDBPath)
		if err != nil {
			return nil, fmt.Errorf("geoip: open MaxMind database %s: %w", opts.MMDBPath, err)
		}
		t := db.Metadata.DatabaseType
		for _, unsuitable := range [...]string{"ASN", "ISP", "Anonymous", "Connection-Type", "Domain", "Enterprise-ASN"} {
			if strings.Contains(t, unsuitable) {
				db.Close()
				return nil, fmt.Errorf("geoip: %s is a %s database; phiwatch needs a City or Country database (GeoLite2-City.mmdb)", opts.MMDBPath, t)
			}
		}
		g.db, g.dbType = db, t
	}
	if opts.CSVPath != "" {
		table, err := loadCIDRFile(opts.CSVPath)
		if err != nil {
			if g.db != nil {
				g.db.Close()
			}
			return nil, fmt.Errorf("geoip: %w", err)
		}
		g.csv = table
	}
	return g, nil
}

// Close releases the MaxMind database (a memory map). Enrich must not be
// called after.
func (g *GeoIP) Close() error {
	if g.db == nil {
		return nil
	}
	return g.db.Close()
}

// Describe says what is loaded, for the startup log.
func (g *GeoIP) Describe() string {
	var parts []string
	if g.db != nil {
		parts = append(parts, fmt.Sprintf("%s built %s", g.dbType, g.db.Metadata.BuildTime().UTC().Format("2006-01-02")))
	}
	if g.csv != nil {
		parts = append(parts, fmt.Sprintf("CIDR CSV with %d networks", g.csv.size))
	}
	return strings.Join(parts, ", ")
}

// Stats returns the counts so far.
func (g *GeoIP) Stats() GeoIPStats {
	return GeoIPStats{Looked: g.looked.Load(), Found: g.found.Load(), Skipped: g.skipped.Load(), Errors: g.errs.Load()}
}

// Enrich sets the geo_* attributes of e from its client address, when the
// address is public and found. It fits ingest.Pipeline.Enrich:
//
//	p.Enrich = geo.Enrich
//
// It never fails and never touches an event it cannot place.
func (g *GeoIP) Enrich(e *event.Event) {
	addr, err := netip.ParseAddr(e.ClientIP)
	if err != nil || !g.public(addr) {
		g.skipped.Add(1)
		return
	}
	g.looked.Add(1)
	loc, ok := g.Lookup(addr)
	if !ok || len(e.Attrs) > maxEventAttrs {
		return
	}
	g.found.Add(1)
	if e.Attrs == nil {
		e.Attrs = make(map[string]string, 6)
	}
	set := func(k, v string) {
		if v != "" {
			e.Attrs[k] = v
		}
	}
	set(AttrCountry, loc.CountryISO)
	set(AttrCountryName, loc.Country)
	set(AttrRegion, loc.Region)
	set(AttrCity, loc.City)
	if loc.HasCoords {
		set(AttrLat, coord(loc.Lat))
		set(AttrLon, coord(loc.Lon))
	}
}

// coord rounds to two decimals (about a kilometre): a GeoIP position is a
// guess at a city, and more digits would pretend otherwise.
func coord(v float64) string {
	r := math.Round(v*100) / 100
	if r == 0 {
		r = 0 // no "-0.00"
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// Lookup places an address: the MaxMind database first, then the CSV. It
// does not check that the address is public.
func (g *GeoIP) Lookup(addr netip.Addr) (Location, bool) {
	addr = addr.Unmap().WithZone("")
	if g.db != nil {
		loc, ok, err := g.lookupMMDB(addr)
		if err != nil {
			g.errs.Add(1)
		} else if ok {
			return loc, true
		}
	}
	if g.csv != nil {
		if loc, ok := g.csv.lookup(addr); ok {
			return loc, true
		}
	}
	return Location{}, false
}

// mmdbRecord is the part of a GeoIP2/GeoLite2 City or Country record read
// (the Country database has no city, subdivisions or location).
type mmdbRecord struct {
	Country           mmdbPlace `maxminddb:"country"`
	RegisteredCountry mmdbPlace `maxminddb:"registered_country"`
	City              struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Subdivisions []mmdbPlace `maxminddb:"subdivisions"`
	Location     struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type mmdbPlace struct {
	ISOCode string            `maxminddb:"iso_code"`
	Names   map[string]string `maxminddb:"names"`
}

func (g *GeoIP) lookupMMDB(addr netip.Addr) (Location, bool, error) {
	res := g.db.Lookup(addr)
	if err := res.Err(); err != nil {
		return Location{}, false, err
	}
	if !res.Found() {
		return Location{}, false, nil
	}
	var r mmdbRecord
	if err := res.Decode(&r); err != nil {
		return Location{}, false, err
	}
	country := r.Country
	if country.ISOCode == "" {
		// Anycast and satellite networks have no country of use; where the
		// network is registered is the best there is.
		country = r.RegisteredCountry
	}
	loc := Location{CountryISO: country.ISOCode, Country: g.name(country.Names), City: g.name(r.City.Names)}
	if len(r.Subdivisions) > 0 {
		loc.Region = g.name(r.Subdivisions[0].Names)
	}
	if r.Location.Latitude != nil && r.Location.Longitude != nil {
		loc.Lat, loc.Lon, loc.HasCoords = *r.Location.Latitude, *r.Location.Longitude, true
	}
	if loc.CountryISO == "" && loc.City == "" && !loc.HasCoords {
		return Location{}, false, nil
	}
	return loc, true, nil
}

func (g *GeoIP) name(names map[string]string) string {
	if n := names[g.lang]; n != "" {
		return n
	}
	return names["en"]
}

// public reports whether a client address can be placed: not private,
// loopback, link-local, CGNAT, multicast, unspecified, reserved or (unless
// asked) a documentation range. These say nothing about where a person is.
func (g *GeoIP) public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	if !g.docRange {
		for _, p := range documentation {
			if p.Contains(a) {
				return false
			}
		}
	}
	return true
}

// nonPublic lists special-purpose ranges (RFC 6890 and successors) that
// netip's predicates do not cover.
var nonPublic = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT shared address space (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking (RFC 2544)
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and 255.255.255.255
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("100::/64"),       // discard-only (RFC 6666)
	netip.MustParsePrefix("2001::/23"),      // IETF protocol assignments (Teredo, ORCHID…)
	netip.MustParsePrefix("2002::/16"),      // 6to4: the embedded IPv4 address is the client
	netip.MustParsePrefix("5f00::/16"),      // SRv6 SIDs (RFC 9602)
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
}

// documentation lists the ranges reserved for examples (RFC 5737, RFC 3849,
// RFC 9637), which the demo and tests use as if public.
var documentation = [...]netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("3fff::/20"),
}
