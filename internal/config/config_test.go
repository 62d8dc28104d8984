package config

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "phiwatch.yaml")
	os.WriteFile(file, []byte("store: chdb:/from-file\nkafka-brokers: [a:1, b:2]\nbatch-rows: 7\nlisten: file\nother-role-key: x\n"), 0o600)
	cases := []struct {
		name             string
		args             []string
		env              map[string]string
		store, brokers   string
		rows             int
		listen           string
		wantErr, unknown bool
	}{
		{name: "file only", args: []string{"--config", file}, store: "chdb:/from-file", brokers: "a:1,b:2", rows: 7, listen: "file", unknown: true},
		{name: "env beats file", args: []string{"--config", file}, env: map[string]string{"PHIWATCH_STORE": "chdb:/env", "PHIWATCH_BATCH_ROWS": "9"}, store: "chdb:/env", brokers: "a:1,b:2", rows: 9, listen: "file", unknown: true},
		{name: "flag beats env", args: []string{"--config", file, "--store", "chdb:/flag"}, env: map[string]string{"PHIWATCH_STORE": "chdb:/env"}, store: "chdb:/flag", brokers: "a:1,b:2", rows: 7, listen: "file", unknown: true},
		{name: "config from env", env: map[string]string{"PHIWATCH_CONFIG": file}, store: "chdb:/from-file", brokers: "a:1,b:2", rows: 7, listen: "file", unknown: true},
		{name: "defaults", store: "chdb:default", rows: 1, listen: "def"},
		{name: "bad env value", env: map[string]string{"PHIWATCH_BATCH_ROWS": "many"}, wantErr: true},
		{name: "missing file", args: []string{"--config", filepath.Join(dir, "nope.yaml")}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.String("config", "", "")
			store := fs.String("store", "chdb:default", "")
			brokers := fs.String("kafka-brokers", "", "")
			rows := fs.Int("batch-rows", 1, "")
			listen := fs.String("listen", "def", "")
			res, err := Parse(fs, c.args, func(k string) string { return c.env[k] })
			if c.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *store != c.store || *brokers != c.brokers || *rows != c.rows || *listen != c.listen {
				t.Fatalf("got store=%q brokers=%q rows=%d listen=%q", *store, *brokers, *rows, *listen)
			}
			if got := len(res.UnknownKeys) > 0; got != c.unknown {
				t.Fatalf("unknown keys %v", res.UnknownKeys)
			}
		})
	}
}

func TestBadYAML(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("store: [unclosed\n"), 0o600)
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("config", "", "")
	fs.String("store", "", "")
	if _, err := Parse(fs, []string{"--config", file}, func(string) string { return "" }); err == nil {
		t.Fatal("want an error for invalid YAML")
	}
}
