package enrich

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/phiwatch/phiwatch/internal/event"
)

// GeoIP.Enrich fits ingest.Pipeline.Enrich.
var _ func(*event.Event) = (*GeoIP)(nil).Enrich

// cityRecord is a GeoLite2-City record as MaxMind lays it out.
func cityRecord(iso, country, region, city string, lat, lon float64) mmdbtype.Map {
	m := mmdbtype.Map{
		"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso), "names": mmdbtype.Map{"en": mmdbtype.String(country), "de": mmdbtype.String(country + " (de)")}},
	}
	if region != "" {
		m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String("X"), "names": mmdbtype.Map{"en": mmdbtype.String(region)}}}
	}
	if city != "" {
		m["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(city)}}
		m["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon), "accuracy_radius": mmdbtype.Uint16(20)}
	}
	return m
}

// writeMMDB builds a small City database in the test's temporary folder
// with MaxMind's own writer, so no database is downloaded or committed.
func writeMMDB(t testing.TB, dbType string) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range map[string]mmdbtype.Map{
		"81.2.69.0/24":      cityRecord("GB", "United Kingdom", "England", "London", 51.5142, -0.0931),
		"2001:67c:2e8::/48": cityRecord("NL", "Netherlands", "North Holland", "Amsterdam", 52.3759, 4.8975),
		"198.51.100.0/24":   cityRecord("US", "United States", "Virginia", "Ashburn", 39.0437, -77.4875),
		"89.160.20.0/24":    cityRecord("SE", "Sweden", "", "", 0, 0), // a Country-database record
		"67.43.156.0/24": {
			// Satellite provider: no country of use, only where it is registered.
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("BT"), "names": mmdbtype.Map{"en": mmdbtype.String("Bhutan")}},
		},
		"8.8.8.0/24": cityRecord("US", "United States", "", "", 0, 0),
	} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
	}
	path := filepath.Join(t.TempDir(), "test-city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

const testCSV = `network,country_iso,country,region,city,latitude,longitude
# the operator's own knowledge: branch offices, a hosting provider
203.0.113.0/24,CA,Canada,Ontario,Toronto,43.6532,-79.3832
203.0.113.128/25,CA,Canada,Quebec,Montreal,45.5017,-73.5673
2001:db8:44::/48,DE,Germany,Berlin,Berlin,52.52,13.405
::ffff:192.0.2.0/120,US,United States,,,,
8.8.8.0/24,XX,Nowhere,,,,
100.64.0.0/10,US,United States,,,,
`

func writeCSV(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "geo.csv")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func newGeo(t testing.TB, opts GeoIPOptions) *GeoIP {
	t.Helper()
	g, err := NewGeoIP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func enriched(g *GeoIP, ip string) map[string]string {
	e := event.Event{ClientIP: ip, Attrs: map[string]string{"source_action": "x"}}
	g.Enrich(&e)
	out := map[string]string{}
	for k, v := range e.Attrs {
		if strings.HasPrefix(k, "geo_") {
			out[k] = v
		}
	}
	return out
}

func TestGeoIPMaxMind(t *testing.T) {
	g := newGeo(t, GeoIPOptions{MMDBPath: writeMMDB(t, "GeoLite2-City")})
	cases := []struct {
		ip   string
		want map[string]string
	}{
		{"81.2.69.142", map[string]string{AttrCountry: "GB", AttrCountryName: "United Kingdom", AttrRegion: "England", AttrCity: "London", AttrLat: "51.51", AttrLon: "-0.09"}},
		{"::ffff:81.2.69.142", map[string]string{AttrCountry: "GB", AttrCountryName: "United Kingdom", AttrRegion: "England", AttrCity: "London", AttrLat: "51.51", AttrLon: "-0.09"}},
		{"2001:67c:2e8:22::c100:68b", map[string]string{AttrCountry: "NL", AttrCountryName: "Netherlands", AttrRegion: "North Holland", AttrCity: "Amsterdam", AttrLat: "52.38", AttrLon: "4.90"}},
		{"89.160.20.112", map[string]string{AttrCountry: "SE", AttrCountryName: "Sweden"}},
		{"67.43.156.7", map[string]string{AttrCountry: "BT", AttrCountryName: "Bhutan"}},
		{"1.1.1.1", map[string]string{}},         // not in the database
		{"198.51.100.7", map[string]string{}},    // documentation range: skipped by default
		{"10.8.0.6", map[string]string{}},        // private
		{"100.64.1.1", map[string]string{}},      // CGNAT
		{"127.0.0.1", map[string]string{}},       // loopback
		{"169.254.1.1", map[string]string{}},     // link-local
		{"fe80::1", map[string]string{}},         // link-local
		{"fd00:8::1000", map[string]string{}},    // unique local
		{"224.0.0.251", map[string]string{}},     // multicast
		{"255.255.255.255", map[string]string{}}, // broadcast
		{"", map[string]string{}},                // no client address
		{"not-an-ip", map[string]string{}},       // never fails the event
	}
	for _, c := range cases {
		got := enriched(g, c.ip)
		if len(got) != len(c.want) {
			t.Errorf("%q: %v, want %v", c.ip, got, c.want)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%q: %s = %q, want %q", c.ip, k, got[k], v)
			}
		}
	}
	if s := g.Stats(); s.Looked != 6 || s.Found != 5 || s.Skipped != 11 || s.Errors != 0 {
		t.Errorf("stats %+v", s)
	}
	if d := g.Describe(); !strings.Contains(d, "GeoLite2-City built") {
		t.Errorf("Describe() = %q", d)
	}
}

func TestGeoIPDocumentationRanges(t *testing.T) {
	g := newGeo(t, GeoIPOptions{MMDBPath: writeMMDB(t, "GeoLite2-City"), IncludeDocumentationRanges: true})
	if got := enriched(g, "198.51.100.7"); got[AttrCity] != "Ashburn" || got[AttrCountry] != "US" {
		t.Errorf("documentation address with IncludeDocumentationRanges: %v", got)
	}
	if got := enriched(g, "10.8.0.6"); len(got) != 0 {
		t.Errorf("private address placed: %v", got)
	}
}

func TestGeoIPLanguage(t *testing.T) {
	g := newGeo(t, GeoIPOptions{MMDBPath: writeMMDB(t, "GeoLite2-City"), Language: "de"})
	got := enriched(g, "81.2.69.142")
	if got[AttrCountryName] != "United Kingdom (de)" || got[AttrCity] != "London" { // city has no German name: English
		t.Errorf("German names: %v", got)
	}
}

func TestGeoIPCSV(t *testing.T) {
	g := newGeo(t, GeoIPOptions{CSVPath: writeCSV(t, testCSV), IncludeDocumentationRanges: true})
	cases := []struct{ ip, country, city, lat string }{
		{"203.0.113.9", "CA", "Toronto", "43.65"},
		{"203.0.113.200", "CA", "Montreal", "45.50"}, // the longer prefix wins
		{"2001:db8:44::9", "DE", "Berlin", "52.52"},
		{"192.0.2.5", "US", "", ""}, // written as an IPv4-mapped prefix
		{"2001:db8:45::1", "", "", ""},
	}
	for _, c := range cases {
		got := enriched(g, c.ip)
		if got[AttrCountry] != c.country || got[AttrCity] != c.city || got[AttrLat] != c.lat {
			t.Errorf("%s: %v, want %s %s %s", c.ip, got, c.country, c.city, c.lat)
		}
	}
	// A CSV entry does not make a non-public address public.
	if got := enriched(g, "100.64.1.1"); len(got) != 0 {
		t.Errorf("CGNAT address placed from the CSV: %v", got)
	}
	if d := g.Describe(); d != "CIDR CSV with 6 networks" {
		t.Errorf("Describe() = %q", d)
	}
}

func TestGeoIPMaxMindFirstThenCSV(t *testing.T) {
	g := newGeo(t, GeoIPOptions{MMDBPath: writeMMDB(t, "GeoLite2-City"), CSVPath: writeCSV(t, testCSV), IncludeDocumentationRanges: true})
	if got := enriched(g, "8.8.8.8"); got[AttrCountry] != "US" {
		t.Errorf("the MaxMind answer should win: %v", got)
	}
	if got := enriched(g, "203.0.113.9"); got[AttrCity] != "Toronto" {
		t.Errorf("the CSV should answer what MaxMind does not know: %v", got)
	}
}

func TestGeoIPOptionsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.mmdb")
	if err := os.WriteFile(bad, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		opts GeoIPOptions
		want string
	}{
		{GeoIPOptions{}, "no database given"},
		{GeoIPOptions{MMDBPath: filepath.Join(dir, "missing.mmdb")}, "open MaxMind database"},
		{GeoIPOptions{MMDBPath: bad}, "open MaxMind database"},
		{GeoIPOptions{MMDBPath: writeMMDB(t, "GeoLite2-ASN")}, "needs a City or Country database"},
		{GeoIPOptions{CSVPath: filepath.Join(dir, "missing.csv")}, "open CIDR CSV"},
		{GeoIPOptions{MMDBPath: writeMMDB(t, "GeoLite2-City"), CSVPath: writeCSV(t, "")}, "CIDR CSV is empty"},
	}
	for _, c := range cases {
		g, err := NewGeoIP(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error containing %q", c.opts, err, c.want)
			if g != nil {
				g.Close()
			}
		}
	}
}

func TestLoadCIDRErrors(t *testing.T) {
	const head = "network,country_iso,country,region,city,latitude,longitude\n"
	cases := []struct{ text, want string }{
		{"net,iso\n", "header"},
		{"network,country,country_iso,region,city,latitude,longitude\n", "header is"},
		{head + "81.2.69.0/33,GB,,,,,\n", "line 2: network \"81.2.69.0/33\" is not a CIDR prefix"},
		{head + "81.2.69.0/24,GBR,,,,,\n", "line 2: country_iso \"GBR\""},
		{head + "81.2.69.0/24,GB,,,,51.5,\n", "line 2: latitude and longitude go together"},
		{head + "81.2.69.0/24,GB,,,,91,0\n", "are not degrees"},
		{head + "81.2.69.0/24,GB,,,,NaN,0\n", "are not degrees"},
		{head + "81.2.69.0/24,GB,,,,,\n81.2.69.1/24,GB,,,,,\n", "line 3: network 81.2.69.0/24 is listed twice"},
		{head + "81.2.69.0/24,GB\n", "wrong number of fields"},
	}
	for _, c := range cases {
		_, err := loadCIDR(strings.NewReader(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
	// A BOM and spaces around fields are tolerated; a bare address is a /32.
	tab, err := loadCIDR(strings.NewReader("\ufeffnetwork, country_iso, country, region, city, latitude, longitude\n 81.2.69.142 , gb ,United Kingdom,,,,\n"))
	if err != nil || tab.size != 1 {
		t.Fatalf("lenient CSV: %v", err)
	}
}

// TestGeoIPConcurrent: one GeoIP serves every pipeline goroutine.
func TestGeoIPConcurrent(t *testing.T) {
	g := newGeo(t, GeoIPOptions{MMDBPath: writeMMDB(t, "GeoLite2-City"), CSVPath: writeCSV(t, testCSV), IncludeDocumentationRanges: true})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				ip := "81.2.69." + strconv.Itoa((i*200+j)%256)
				if got := enriched(g, ip); got[AttrCountry] != "GB" {
					t.Errorf("%s: %v", ip, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s := g.Stats(); s.Found != 1600 {
		t.Errorf("stats %+v", s)
	}
}

func TestGeoIPKeepsEventValid(t *testing.T) {
	g := newGeo(t, GeoIPOptions{MMDBPath: writeMMDB(t, "GeoLite2-City")})
	// Attrs nil: created.
	e := event.Event{ClientIP: "81.2.69.142"}
	g.Enrich(&e)
	if e.Attrs[AttrCountry] != "GB" {
		t.Errorf("nil attrs: %v", e.Attrs)
	}
	// An event already at the attribute limit is left as it is.
	full := event.Event{ClientIP: "81.2.69.142", Attrs: map[string]string{}}
	for i := range 125 {
		full.Attrs["a"+strconv.Itoa(i)] = "x"
	}
	g.Enrich(&full)
	if _, ok := full.Attrs[AttrCountry]; ok || len(full.Attrs) != 125 {
		t.Errorf("enrichment pushed an event past the attribute limit: %d attrs", len(full.Attrs))
	}
}

func TestCoord(t *testing.T) {
	for in, want := range map[float64]string{51.5142: "51.51", -0.0931: "-0.09", -0.001: "0.00", 4.8975: "4.90", -77.4875: "-77.49", 180: "180.00"} {
		if got := coord(in); got != want {
			t.Errorf("coord(%v) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkGeoIPEnrich(b *testing.B) {
	g := newGeo(b, GeoIPOptions{MMDBPath: writeMMDB(b, "GeoLite2-City"), CSVPath: writeCSV(b, testCSV), IncludeDocumentationRanges: true})
	ips := []string{"81.2.69.142", "2001:67c:2e8:22::c100:68b", "203.0.113.200", "10.8.0.6", "1.1.1.1"}
	b.ReportAllocs()
	n := 0
	for i := 0; b.Loop(); i++ {
		e := event.Event{ClientIP: ips[i%len(ips)], Attrs: map[string]string{}}
		g.Enrich(&e)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
