package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
)

// TenantParam is the query parameter every tenant-scoped statement must
// use: a TenantStore binds it itself.
const TenantParam = "{tenant:String}"

// ErrUnscoped is returned for a statement that does not filter by tenant.
var ErrUnscoped = errors.New("statement does not filter by tenant: it must use {tenant:String} (one tenant) or {tenants:Array(String)} (a fleet view)")

// TenantStore is a Store narrowed to one tenant: the only way the API's
// handlers reach data. Every statement must contain {tenant:String}, which
// it binds to its tenant whatever the caller passed, and every inserted row
// gets its tenant_id, so a handler cannot forget the scope or widen it.
type TenantStore struct {
	s      Querier
	tenant string
}

// Querier is the part of a Store that runs statements.
type Querier interface {
	Exec(ctx context.Context, sql string, params Params) error
	Select(ctx context.Context, dest any, sql string, params Params) error
	Database() string
	Ping(ctx context.Context) error
}

// ForTenant narrows s to tenant.
func ForTenant(s Querier, tenant string) (*TenantStore, error) {
	if s == nil {
		return nil, errors.New("tenant store: no store")
	}
	if tenant == "" {
		return nil, errors.New("tenant store: empty tenant")
	}
	return &TenantStore{s: s, tenant: tenant}, nil
}

// Tenant is the tenant the store is narrowed to.
func (t *TenantStore) Tenant() string { return t.tenant }

// Database is the ClickHouse database phiwatch's tables live in.
func (t *TenantStore) Database() string { return t.s.Database() }

// Ping checks the store.
func (t *TenantStore) Ping(ctx context.Context) error { return t.s.Ping(ctx) }

func (t *TenantStore) bind(sql string, params Params) (Params, error) {
	if !strings.Contains(sql, TenantParam) {
		return nil, ErrUnscoped
	}
	p := make(Params, len(params)+1)
	maps.Copy(p, params)
	p["tenant"] = t.tenant
	return p, nil
}

// Select runs a tenant-scoped query (see Store.Select).
func (t *TenantStore) Select(ctx context.Context, dest any, sql string, params Params) error {
	p, err := t.bind(sql, params)
	if err != nil {
		return err
	}
	return t.s.Select(ctx, dest, sql, p)
}

// Exec runs a tenant-scoped statement (see Store.Exec), e.g. an
// INSERT … SELECT … WHERE tenant_id = {tenant:String}.
func (t *TenantStore) Exec(ctx context.Context, sql string, params Params) error {
	p, err := t.bind(sql, params)
	if err != nil {
		return err
	}
	return t.s.Exec(ctx, sql, p)
}

// Insert appends rows to table (a table in Database()). rows is a slice of
// structs with json tags named like the columns (time.Time fields are
// written as RFC 3339 and read best-effort). Each row's tenant_id is set
// to the store's tenant; the table must have that column.
func (t *TenantStore) Insert(ctx context.Context, table string, rows any) error {
	if err := checkIdent(table); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Slice {
		return fmt.Errorf("insert into %s: rows must be a slice, got %T", table, rows)
	}
	if v.Len() == 0 {
		return nil
	}
	var body bytes.Buffer
	tenantJSON, _ := json.Marshal(t.tenant)
	for i := range v.Len() {
		line, err := json.Marshal(v.Index(i).Interface())
		if err != nil {
			return fmt.Errorf("insert into %s: encode row %d: %w", table, i, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			return fmt.Errorf("insert into %s: row %d is not an object: %w", table, i, err)
		}
		m["tenant_id"] = tenantJSON
		line, err = json.Marshal(m)
		if err != nil {
			return fmt.Errorf("insert into %s: encode row %d: %w", table, i, err)
		}
		body.Write(line)
		body.WriteByte('\n')
	}
	sql := "INSERT INTO " + t.s.Database() + "." + table +
		" SETTINGS date_time_input_format = 'best_effort' FORMAT JSONEachRow\n" + body.String()
	if err := t.s.Exec(ctx, sql, nil); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", v.Len(), table, err)
	}
	return nil
}

// TenantsParam is the query parameter every fleet-wide statement must use.
const TenantsParam = "{tenants:Array(String)}"

// FleetStore is a Store narrowed to a set of tenants, for views across the
// tenants a principal may see (the MSP overview): every statement must
// contain {tenants:Array(String)}, which it binds itself.
type FleetStore struct {
	s       Querier
	tenants []string
}

// ForTenants narrows s to tenants.
func ForTenants(s Querier, tenants []string) (*FleetStore, error) {
	if s == nil {
		return nil, errors.New("fleet store: no store")
	}
	return &FleetStore{s: s, tenants: append([]string(nil), tenants...)}, nil
}

// Tenants are the tenants the store is narrowed to.
func (f *FleetStore) Tenants() []string { return append([]string(nil), f.tenants...) }

// Database is the ClickHouse database phiwatch's tables live in.
func (f *FleetStore) Database() string { return f.s.Database() }

// Select runs a fleet-scoped query (see Store.Select).
func (f *FleetStore) Select(ctx context.Context, dest any, sql string, params Params) error {
	if !strings.Contains(sql, TenantsParam) {
		return ErrUnscoped
	}
	p := make(Params, len(params)+1)
	maps.Copy(p, params)
	p["tenants"] = ArrayParam(f.tenants)
	return f.s.Select(ctx, dest, sql, p)
}

// KnownTenants lists the tenants the store holds data for: on the roster,
// with events in the last 90 days, or with alerts. It is for the server
// layer resolving "all tenants" for an msp_admin, never for handlers.
func KnownTenants(ctx context.Context, q Querier) ([]string, error) {
	db := q.Database()
	var rows []struct {
		T string `json:"t"`
	}
	err := q.Select(ctx, &rows, `SELECT DISTINCT t FROM (
    SELECT DISTINCT tenant_id AS t FROM `+db+`.workforce
    UNION ALL SELECT DISTINCT tenant_id AS t FROM `+db+`.access_events WHERE time > now64(3) - INTERVAL 90 DAY
    UNION ALL SELECT DISTINCT tenant_id AS t FROM `+db+`.alerts
) ORDER BY t`, nil)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.T
	}
	return out, nil
}
