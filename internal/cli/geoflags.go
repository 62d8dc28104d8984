package cli

import (
	"flag"
	"log/slog"

	"github.com/phiwatch/phiwatch/ingest/enrich"
)

// geoFlags turn on GeoIP enrichment of public client addresses.
type geoFlags struct {
	db, csv string
}

func (g *geoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.db, "geoip-db", "", "MaxMind-format database (GeoLite2-City.mmdb, …) for the country and city of public client IPs (docs/geoip.md)")
	fs.StringVar(&g.csv, "geoip-csv", "", "CIDR→location CSV, used where --geoip-db has no answer or instead of it (docs/geoip.md)")
}

// open returns the enricher, or nil when GeoIP is off.
func (g *geoFlags) open(log *slog.Logger) (*enrich.GeoIP, error) {
	if g.db == "" && g.csv == "" {
		return nil, nil
	}
	geo, err := enrich.NewGeoIP(enrich.GeoIPOptions{MMDBPath: g.db, CSVPath: g.csv})
	if err != nil {
		return nil, err
	}
	log.Info("geoip enrichment on", "databases", geo.Describe())
	return geo, nil
}
