package enrich

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// cidrHeader is the CSV fallback's required header, in order.
var cidrHeader = [...]string{"network", "country_iso", "country", "region", "city", "latitude", "longitude"}

// cidrTable answers longest-prefix lookups over an operator's CIDR list:
// one map per prefix length in use, tried from the longest. A table has a
// few distinct lengths, so a lookup is a handful of map probes whatever
// its size.
type cidrTable struct {
	v4, v6     map[int]map[netip.Prefix]Location
	len4, len6 []int // prefix lengths in use, longest first
	size       int
}

func loadCIDRFile(path string) (*cidrTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open CIDR CSV: %w", err)
	}
	defer f.Close()
	t, err := loadCIDR(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// loadCIDR reads network,country_iso,country,region,city,latitude,longitude
// rows. Empty fields are allowed except network; latitude and longitude go
// together. Lines starting with '#' are comments.
func loadCIDR(r io.Reader) (*cidrTable, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = len(cidrHeader)
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("CIDR CSV is empty; it needs the header " + strings.Join(cidrHeader[:], ","))
	}
	if err != nil {
		return nil, fmt.Errorf("CIDR CSV header: %w", err)
	}
	for i, h := range head {
		if !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), cidrHeader[i]) {
			return nil, fmt.Errorf("CIDR CSV header is %q, want %s", strings.Join(head, ","), strings.Join(cidrHeader[:], ","))
		}
	}
	t := &cidrTable{v4: map[int]map[netip.Prefix]Location{}, v6: map[int]map[netip.Prefix]Location{}}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		p, loc, err := cidrRow(row)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		byLen := t.v4
		if p.Addr().Is6() {
			byLen = t.v6
		}
		m := byLen[p.Bits()]
		if m == nil {
			m = map[netip.Prefix]Location{}
			byLen[p.Bits()] = m
		}
		if _, dup := m[p]; dup {
			return nil, fmt.Errorf("line %d: network %s is listed twice", line, p)
		}
		m[p] = loc
		t.size++
	}
	for bits := range t.v4 {
		t.len4 = append(t.len4, bits)
	}
	for bits := range t.v6 {
		t.len6 = append(t.len6, bits)
	}
	slices.SortFunc(t.len4, func(a, b int) int { return b - a })
	slices.SortFunc(t.len6, func(a, b int) int { return b - a })
	return t, nil
}

func cidrRow(row []string) (netip.Prefix, Location, error) {
	for i := range row {
		row[i] = strings.TrimSpace(row[i])
	}
	network := row[0]
	var p netip.Prefix
	var err error
	if strings.Contains(network, "/") {
		p, err = netip.ParsePrefix(network)
	} else {
		// A single address is its own network.
		var a netip.Addr
		a, err = netip.ParseAddr(network)
		if err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		return p, Location{}, fmt.Errorf("network %q is not a CIDR prefix (like 81.2.69.0/24 or 2001:db8::/32)", network)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96) // ::ffff:81.2.69.0/120 is 81.2.69.0/24
	}
	p = p.Masked()
	loc := Location{CountryISO: strings.ToUpper(row[1]), Country: row[2], Region: row[3], City: row[4]}
	if loc.CountryISO != "" && (len(loc.CountryISO) != 2 || strings.Trim(loc.CountryISO, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
		return p, loc, fmt.Errorf("country_iso %q is not a two-letter ISO 3166 code", row[1])
	}
	switch {
	case row[5] == "" && row[6] == "":
	case row[5] == "" || row[6] == "":
		return p, loc, errors.New("latitude and longitude go together: give both or neither")
	default:
		lat, err1 := strconv.ParseFloat(row[5], 64)
		lon, err2 := strconv.ParseFloat(row[6], 64)
		if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return p, loc, fmt.Errorf("latitude %q, longitude %q are not degrees (-90..90, -180..180)", row[5], row[6])
		}
		loc.Lat, loc.Lon, loc.HasCoords = lat, lon, true
	}
	return p, loc, nil
}

func (t *cidrTable) lookup(a netip.Addr) (Location, bool) {
	byLen, lens := t.v6, t.len6
	if a.Is4() {
		byLen, lens = t.v4, t.len4
	}
	for _, bits := range lens {
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if loc, ok := byLen[bits][p]; ok {
			return loc, true
		}
	}
	return Location{}, false
}
