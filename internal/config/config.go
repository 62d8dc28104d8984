// Package config fills a command's flags from, in order of precedence, the
// command line, the environment (PHIWATCH_<FLAG_NAME>, dashes as
// underscores) and a YAML file (--config or PHIWATCH_CONFIG) whose keys are
// the flag names. One name for each setting everywhere.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvName is the environment variable for a flag.
func EnvName(flagName string) string {
	return "PHIWATCH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Result reports what Parse found.
type Result struct {
	File string
	// UnknownKeys are file keys that are not flags of this command (they may
	// belong to another role sharing the file).
	UnknownKeys []string
}

// Parse parses args into fs, then fills flags not given on the command line
// from the environment, then from the YAML file. fs must define a "config"
// string flag. getenv is os.Getenv outside tests.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) (Result, error) {
	var res Result
	if err := fs.Parse(args); err != nil {
		return res, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, err))
			}
			set[f.Name] = true
		}
	})
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	cf := fs.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return res, nil
	}
	res.File = cf.Value.String()
	data, err := os.ReadFile(res.File)
	if err != nil {
		return res, fmt.Errorf("read config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return res, fmt.Errorf("config file %s is not valid YAML: %w", res.File, err)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || k == "config" {
			res.UnknownKeys = append(res.UnknownKeys, k)
			continue
		}
		if set[k] {
			continue
		}
		v, err := scalar(doc[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %s, key %s: %w", res.File, k, err))
			continue
		}
		if err := fs.Set(k, v); err != nil {
			errs = append(errs, fmt.Errorf("config file %s, key %s=%q: %w", res.File, k, v, err))
		}
	}
	return res, errors.Join(errs...)
}

// scalar renders a YAML value as flag text; lists become comma-separated.
func scalar(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			s, err := scalar(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("a mapping cannot be a flag value")
	default:
		return fmt.Sprint(t), nil
	}
}
