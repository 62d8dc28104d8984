package dashboards

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// This file turns a panel's query into what reaches the data source, in
// the order Grafana and grafana-clickhouse-datasource (v4) apply the steps:
//
//  1. the plugin's frontend replaces $__conditionalAll(cond, $var) with 1=1
//     when $var is All or empty (CHDatasource.applyConditionalAll);
//  2. Grafana's template service replaces $var, ${var} and ${var:format};
//     the plugin formats a multi-value list as 'a','b' and a single value
//     as it is;
//  3. the plugin's backend expands its macros (pkg/macros on top of
//     grafana/sqlds): $__timeFilter(c), $__fromTime, $__interval_s, …
//
// The tests below pin each step's output, so a change here that drifts
// from the plugin shows up as a failing case rather than a silently
// different query.

// variable is one template variable's current state.
type variable struct {
	values   []string
	all      bool   // "All" selected
	allValue string // the variable's custom all value, if set
	multi    bool
}

// queryContext is what Grafana knows when it runs a panel's query.
type queryContext struct {
	from, to time.Time
	interval time.Duration // the panel's $__interval
	timezone string        // $__timezone
	vars     map[string]variable
}

// grafanaVarRE is Grafana's variable syntax: $name, [[name:format]] and
// ${name.fieldPath:format}.
var grafanaVarRE = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// interpolate replaces template variables the way Grafana's template
// service does; defaultFormat formats a variable used without an explicit
// format (each data source passes its own). Names that are not variables,
// such as the plugin's $__timeFilter, stay as they are.
func (qc queryContext) interpolate(s string, defaultFormat func(values []string, multi bool) string) (string, error) {
	var err error
	out := grafanaVarRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := grafanaVarRE.FindStringSubmatch(m)
		name, format := sub[1], ""
		switch {
		case sub[2] != "":
			name, format = sub[2], sub[3]
		case sub[4] != "":
			name, format = sub[4], sub[6]
		}
		values, ok := qc.builtin(name)
		multi := false
		if !ok {
			v, found := qc.vars[name]
			if !found {
				return m
			}
			values, multi = v.values, v.multi || v.all
			if v.all && v.allValue != "" {
				// A custom all value is used as it is, unformatted.
				return v.allValue
			}
		}
		if format == "" {
			return defaultFormat(values, multi)
		}
		f, e := formatValues(format, values)
		if e != nil && err == nil {
			err = fmt.Errorf("variable %s: %w", name, e)
		}
		return f
	})
	return out, err
}

// builtin returns Grafana's global variables that the dashboards use.
func (qc queryContext) builtin(name string) ([]string, bool) {
	switch name {
	case "__timezone":
		return []string{qc.timezone}, true
	case "__interval":
		return []string{promDuration(qc.interval)}, true
	case "__interval_ms":
		return []string{fmt.Sprint(qc.interval.Milliseconds())}, true
	case "__rate_interval":
		// Grafana: max($__interval + scrape interval, 4 × scrape interval);
		// with the provisioned 15 s scrape interval that is at least 1m.
		return []string{promDuration(max(qc.interval+15*time.Second, time.Minute))}, true
	case "__range":
		return []string{promDuration(qc.to.Sub(qc.from))}, true
	}
	return nil, false
}

func promDuration(d time.Duration) string {
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// formatValues applies one of Grafana's variable formats.
func formatValues(format string, values []string) (string, error) {
	switch format {
	case "singlequote":
		q := make([]string, len(values))
		for i, v := range values {
			q[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
		}
		return strings.Join(q, ","), nil
	case "doublequote":
		q := make([]string, len(values))
		for i, v := range values {
			q[i] = `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
		}
		return strings.Join(q, ","), nil
	case "csv", "raw":
		return strings.Join(values, ","), nil
	case "regex":
		q := make([]string, len(values))
		for i, v := range values {
			q[i] = regexp.QuoteMeta(v)
		}
		if len(q) == 1 {
			return q[0], nil
		}
		return "(" + strings.Join(q, "|") + ")", nil
	}
	return "", fmt.Errorf("format %q is not one the tests know; add it to formatValues", format)
}

// clickhouseFormat is the plugin's format function for variables without
// an explicit format: a list becomes 'a','b', one value stays raw.
func clickhouseFormat(values []string, _ bool) string {
	if len(values) == 1 {
		return values[0]
	}
	return "'" + strings.Join(values, "','") + "'"
}

// prometheusFormat is the Prometheus data source's default: a variable
// that is neither multi-value nor has All is used as it is (backslashes
// escaped); otherwise values are regex-escaped and a list becomes an
// alternation.
func prometheusFormat(values []string, multi bool) string {
	if !multi {
		return strings.ReplaceAll(strings.Join(values, ","), `\`, `\\`)
	}
	f, _ := formatValues("regex", values)
	return f
}

// applyConditionalAll is step 1. As in the plugin, the variable argument
// names the variable by dropping its first character ($tenant → tenant).
func (qc queryContext) applyConditionalAll(sql string) (string, error) {
	const macro = "$__conditionalAll("
	for i := strings.LastIndex(sql, macro); i >= 0; i = strings.LastIndex(sql, macro) {
		args, end, ok := macroArgs(sql, i+len(macro)-1)
		if !ok || len(args) != 2 {
			return "", fmt.Errorf("$__conditionalAll at %d needs two arguments: %q", i, sql[i:])
		}
		phrase := args[0]
		name := strings.TrimSpace(args[1])
		if len(name) > 0 {
			name = name[1:]
		}
		if v, found := qc.vars[name]; found && (v.all || len(v.values) == 0 || (len(v.values) == 1 && v.values[0] == "")) {
			phrase = "1=1"
		}
		sql = sql[:i] + phrase + sql[end:]
	}
	return sql, nil
}

// macroArgs splits the parenthesised arguments starting at open (the
// index of "(") at top-level commas, returning the index after ")".
func macroArgs(s string, open int) (args []string, end int, ok bool) {
	depth, last := 0, open+1
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return append(args, s[last:i]), i + 1, true
			}
		case ',':
			if depth == 1 {
				args = append(args, s[last:i])
				last = i + 1
			}
		}
	}
	return nil, 0, false
}

// clickhouseMacros are the backend's macros by name (pkg/macros Macros plus
// sqlds's defaults that it does not override).
func (qc queryContext) clickhouseMacros() map[string]func(args []string) (string, error) {
	dateTime := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	dateTime64 := func(t time.Time) string { return fmt.Sprintf("fromUnixTimestamp64Milli(%d)", t.UnixMilli()) }
	date := func(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.Format("2006-01-02")) }
	one := func(f func(string) string) func([]string) (string, error) {
		return func(args []string) (string, error) {
			if len(args) != 1 || args[0] == "" {
				return "", fmt.Errorf("expected 1 argument, received %d", len(args))
			}
			return f(args[0]), nil
		}
	}
	none := func(s string) func([]string) (string, error) {
		return func([]string) (string, error) { return s, nil }
	}
	seconds := int(math.Max(qc.interval.Seconds(), 1))
	millis := int(math.Max(float64(qc.interval.Milliseconds()), 1))
	return map[string]func([]string) (string, error){
		"fromTime":    none(dateTime(qc.from)),
		"toTime":      none(dateTime(qc.to)),
		"fromTime_ms": none(dateTime64(qc.from)),
		"toTime_ms":   none(dateTime64(qc.to)),
		"timeFilter": one(func(c string) string {
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, dateTime(qc.from), c, dateTime(qc.to))
		}),
		"timeFilter_ms": one(func(c string) string {
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, dateTime64(qc.from), c, dateTime64(qc.to))
		}),
		"dateFilter": one(func(c string) string {
			return fmt.Sprintf("%s >= %s AND %s <= %s", c, date(qc.from), c, date(qc.to))
		}),
		"dateTimeFilter": qc.dateTimeFilter,
		"dt":             qc.dateTimeFilter,
		"timeInterval": one(func(c string) string {
			return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", c, seconds)
		}),
		"timeInterval_ms": one(func(c string) string {
			return fmt.Sprintf("toStartOfInterval(toDateTime64(%s, 3), INTERVAL %d millisecond)", c, millis)
		}),
		"interval_s": none(fmt.Sprint(seconds)),
		// sqlds defaults; the dashboards use none of them, and $__table and
		// $__column are empty for a raw SQL query.
		"timeFrom": one(func(c string) string { return fmt.Sprintf("%s >= '%s'", c, qc.from.UTC().Format(time.RFC3339)) }),
		"timeTo":   one(func(c string) string { return fmt.Sprintf("%s <= '%s'", c, qc.to.UTC().Format(time.RFC3339)) }),
		"table":    none(""),
		"column":   none(""),
	}
}

func (qc queryContext) dateTimeFilter(args []string) (string, error) {
	if len(args) != 2 {
		return "", fmt.Errorf("expected 2 arguments, received %d", len(args))
	}
	from, to := qc.from, qc.to
	return fmt.Sprintf("(%s >= toDate('%s') AND %s <= toDate('%s')) AND (%s >= toDateTime(%d) AND %s <= toDateTime(%d))",
		args[0], from.Format("2006-01-02"), args[0], to.Format("2006-01-02"),
		args[1], from.Unix(), args[1], to.Unix()), nil
}

// expandMacros is step 3, matched as grafana-plugin-sdk-go's
// sqlutil.Interpolate (which sqlds and the plugin use) does: $__name at a
// word boundary, optionally followed by a bracketed argument list (nested
// brackets allowed), whose text is split at every comma and trimmed; every
// occurrence of the matched text is then replaced. The SDK walks the
// macros in Go's random map order, so a bare $__fromTime would also
// replace the start of $__fromTime_ms when it happens to go first: such a
// query is refused here rather than expanded one lucky way.
func (qc queryContext) expandMacros(sql string) (string, error) {
	macros := qc.clickhouseMacros()
	names := make([]string, 0, len(macros))
	for name := range macros {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		re := regexp.MustCompile(`\$__` + name + `\b`)
		for {
			loc := re.FindStringIndex(sql)
			if loc == nil {
				break
			}
			full, args := sql[loc[0]:loc[1]], []string(nil)
			if strings.HasPrefix(sql[loc[1]:], "(") {
				_, end, ok := macroArgs(sql, loc[1])
				if !ok {
					return "", fmt.Errorf("$__%s: missing closing bracket", name)
				}
				full = sql[loc[0]:end]
				for _, a := range strings.Split(sql[loc[1]+1:end-1], ",") {
					args = append(args, strings.TrimSpace(a))
				}
			} else if strings.Contains(sql, full+"_") {
				return "", fmt.Errorf("%s and %s_… in one query: the plugin expands them in random order", full, full)
			}
			res, err := macros[name](args)
			if err != nil {
				return "", fmt.Errorf("$__%s: %w", name, err)
			}
			sql = strings.ReplaceAll(sql, full, res)
		}
	}
	if i := strings.Index(sql, "$__"); i >= 0 {
		return "", fmt.Errorf("unknown macro left in the query: %q", sql[i:min(len(sql), i+30)])
	}
	return sql, nil
}

// clickhouseSQL runs all three steps.
func (qc queryContext) clickhouseSQL(raw string) (string, error) {
	s, err := qc.applyConditionalAll(raw)
	if err != nil {
		return "", err
	}
	if s, err = qc.interpolate(s, clickhouseFormat); err != nil {
		return "", err
	}
	return qc.expandMacros(s)
}

func TestExpandClickHouse(t *testing.T) {
	qc := queryContext{
		from:     time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
		to:       time.Date(2026, 10, 31, 12, 30, 0, 0, time.UTC),
		interval: time.Hour,
		timezone: "America/Chicago",
		vars: map[string]variable{
			"database": {values: []string{"phiwatch"}},
			"one":      {values: []string{"t1"}},
			"many":     {values: []string{"t1", "o'neil"}, multi: true},
			"every":    {values: []string{"t1", "t2"}, multi: true, all: true},
			"custom":   {values: []string{"t1", "t2"}, multi: true, all: true, allValue: ".*"},
		},
	}
	cases := []struct{ name, in, want string }{
		{"timeFilter", "WHERE $__timeFilter(time)", "WHERE time >= toDateTime(1790812800) AND time <= toDateTime(1793449800)"},
		{"timeFilter_ms is not timeFilter", "$__timeFilter_ms(t)", "t >= fromUnixTimestamp64Milli(1790812800000) AND t <= fromUnixTimestamp64Milli(1793449800000)"},
		{"dateFilter", "$__dateFilter(d)", "d >= toDate('2026-10-01') AND d <= toDate('2026-10-31')"},
		{"dateTimeFilter", "$__dateTimeFilter(d, t)", "(d >= toDate('2026-10-01') AND d <= toDate('2026-10-31')) AND (t >= toDateTime(1790812800) AND t <= toDateTime(1793449800))"},
		{"from and to", "$__fromTime, $__toTime", "toDateTime(1790812800), toDateTime(1793449800)"},
		{"from and to in ms", "$__fromTime_ms, $__toTime_ms", "fromUnixTimestamp64Milli(1790812800000), fromUnixTimestamp64Milli(1793449800000)"},
		{"same macro twice", "$__timeFilter(a) OR $__timeFilter(a)", "a >= toDateTime(1790812800) AND a <= toDateTime(1793449800) OR a >= toDateTime(1790812800) AND a <= toDateTime(1793449800)"},
		{"timeInterval", "$__timeInterval(time)", "toStartOfInterval(toDateTime(time), INTERVAL 3600 second)"},
		{"nested brackets in an argument", "$__timeFilter(toDateTime(t))", "toDateTime(t) >= toDateTime(1790812800) AND toDateTime(t) <= toDateTime(1793449800)"},
		{"timeInterval_ms", "$__timeInterval_ms(time)", "toStartOfInterval(toDateTime64(time, 3), INTERVAL 3600000 millisecond)"},
		{"interval_s is a macro, not $__interval", "INTERVAL $__interval_s second", "INTERVAL 3600 second"},
		{"single value raw", "tenant_id = '$one' AND db = ${database}", "tenant_id = 't1' AND db = phiwatch"},
		{"singlequote escapes", "IN (${many:singlequote})", `IN ('t1','o\'neil')`},
		{"multi default format", "IN ($many)", "IN ('t1','o'neil')"},
		{"conditionalAll with All", "WHERE $__conditionalAll(tenant_id IN (${every:singlequote}), $every) AND x", "WHERE 1=1 AND x"},
		{"conditionalAll with a selection", "WHERE $__conditionalAll(tenant_id IN (${many:singlequote}), $many)", `WHERE tenant_id IN ('t1','o\'neil')`},
		{"conditionalAll twice", "$__conditionalAll(a IN ($every), $every) OR $__conditionalAll(b = '$one', $one)", "1=1 OR b = 't1'"},
		{"all value", "x =~ '${custom}'", "x =~ '.*'"},
		{"timezone", "toHour(time, '${__timezone}')", "toHour(time, 'America/Chicago')"},
		{"unknown variable left alone", "'$nope'", "'$nope'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := qc.clickhouseSQL(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("\n got %s\nwant %s", got, c.want)
			}
		})
	}
	for _, bad := range []string{"$__timeFilter()", "$__timeFilter(a, b)", "$__timeFilter(if(a, b, c))", "$__dateTimeFilter(a)",
		"$__conditionalAll(x)", "$__nosuchmacro", "${many:nosuchformat}", "$__fromTime AND $__fromTime_ms", "$__timeFilter(t"} {
		if got, err := qc.clickhouseSQL(bad); err == nil {
			t.Errorf("%s: no error, expanded to %q", bad, got)
		}
	}
}

func TestInterpolatePrometheus(t *testing.T) {
	qc := queryContext{interval: 30 * time.Second, vars: map[string]variable{
		"job":    {values: []string{"a", "b"}, multi: true, all: true, allValue: ".+"},
		"tenant": {values: []string{"clinic.one"}},
		"two":    {values: []string{"x", "y.z"}, multi: true},
	}}
	for in, want := range map[string]string{
		`rate(m{job=~"$job"}[$__rate_interval])`: `rate(m{job=~".+"}[60s])`,
		`m{tenant="$tenant"}`:                    `m{tenant="clinic.one"}`,
		`m{x=~"$two"}`:                           `m{x=~"(x|y\.z)"}`,
		`m[$__interval]`:                         `m[30s]`,
	} {
		got, err := qc.interpolate(in, prometheusFormat)
		if err != nil || got != want {
			t.Errorf("%s: got %q (%v), want %q", in, got, err, want)
		}
	}
}
