package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phiwatch/phiwatch/api"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/authz"
	"github.com/phiwatch/phiwatch/internal/store"
)

const tokenUsage = `create --name N --role R (--tenants T1,T2 | --all-tenants | --group G) --expires 90d [--reason TEXT] | list [--tenant T] | revoke --id ID --reason TEXT

  create  issue an API token for a machine; the token is printed once, on
          stdout, and only its SHA-256 is stored
  list    tokens (current version of each), never their secrets
  revoke  end a token at once (a new version; the old one stays); API
          servers refuse it within --auth-cache-ttl (5 s)`

const grantUsage = `add --principal email:ADDR|sub:SUBJECT --role R (--tenants T1,T2 | --all-tenants | --group G) [--name N] [--workforce-id T=ID,...] --reason TEXT | list [--tenant T] | revoke --principal P --reason TEXT | group-set --group G --tenants T1,T2 --reason TEXT | groups

  add        give a person (an OIDC subject, or a verified email) a role; a
             person holds one grant, a new one replaces theirs
  list       grants (current version of each)
  revoke     remove a person's grant
  group-set  create or change a named group of tenants, for msp_admin grants
  groups     list the tenant groups`

// accessFlags are the flags of `phiwatch token` and `phiwatch grant`.
type accessFlags struct {
	lg                                       logFlags
	sf                                       storeFlags
	name, role, tenants, group, expires, by  string
	reason, id, tenant, principal, workforce string
	format                                   string
	allTenants                               bool
}

func (f *accessFlags) register(fs *flag.FlagSet, grant bool) {
	f.lg.register(fs)
	f.sf.register(fs)
	fs.StringVar(&f.role, "role", "", "role: "+rolesList())
	fs.StringVar(&f.tenants, "tenants", "", "tenant ids the token or grant covers, comma-separated")
	fs.BoolVar(&f.allTenants, "all-tenants", false, "cover every tenant, present and future (msp_admin only)")
	fs.StringVar(&f.group, "group", "", "cover a named tenant group (msp_admin only); for grant group-set, the group to set")
	fs.StringVar(&f.reason, "reason", "", "why: kept with the change for auditors")
	fs.StringVar(&f.tenant, "tenant", "", "list: only rows managed from this tenant (* for MSP-level rows)")
	fs.StringVar(&f.format, "format", "text", "list output: text or json")
	fs.StringVar(&f.by, "by", "", "who makes the change (default: $USER)")
	if grant {
		fs.StringVar(&f.principal, "principal", "", "the person: email:<address> (matched when the issuer marks it verified) or sub:<OIDC subject>")
		fs.StringVar(&f.name, "name", "", "add: the person's display name")
		fs.StringVar(&f.workforce, "workforce-id", "", "add: the person's roster user id per tenant, TENANT=ID,... (they never review their own accesses)")
		return
	}
	fs.StringVar(&f.name, "name", "", "create: what the token is for, e.g. siem-export")
	fs.StringVar(&f.expires, "expires", "", "create: lifetime (90d, 12h) or last day (YYYY-MM-DD), at most two years")
	fs.StringVar(&f.id, "id", "", "revoke: token id (tok_…, from list)")
}

func rolesList() string {
	out := make([]string, len(authz.Roles))
	for i, r := range authz.Roles {
		out[i] = string(r)
	}
	return strings.Join(out, ", ")
}

func (f *accessFlags) scope() api.Scope {
	s := api.Scope{AllTenants: f.allTenants, Group: f.group}
	for _, t := range strings.Split(f.tenants, ",") {
		if t = strings.TrimSpace(t); t != "" {
			s.Tenants = append(s.Tenants, t)
		}
	}
	return s
}

// operator is who runs the CLI: it has the store itself, so it acts as an
// msp_admin over all tenants, recorded under its user name.
func (f *accessFlags) operator(e *env) *authz.Principal {
	by := f.by
	if by == "" {
		by = e.getenv("USER")
	}
	if by == "" {
		by = "operator"
	}
	return &authz.Principal{Subject: "cli:" + by, Name: by, Role: authz.MSPAdmin, AllTenants: true, Via: "cli", Tenants: map[string]bool{}}
}

// open opens and migrates the store.
func (f *accessFlags) open(ctx context.Context, e *env) (store.Store, *slog.Logger, error) {
	if f.format != "text" && f.format != "json" {
		return nil, nil, fmt.Errorf("--format %q: want text or json", f.format)
	}
	log, err := f.lg.logger(e.stderr)
	if err != nil {
		return nil, nil, err
	}
	s, err := f.sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := store.Migrate(ctx, s, log); err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, log, nil
}

// record writes the change to the self-audit trail; the change itself is
// already stored with who and why, so a failure is reported, not fatal.
func record(ctx context.Context, s store.Store, log *slog.Logger, by *authz.Principal, tenant, action, target, reason string) {
	e := audit.Entry{Time: time.Now().UTC(), Tenant: tenant, Subject: by.Subject, Name: by.Name, Role: string(by.Role), Via: "cli",
		Action: action, Target: target, Reason: reason, Method: "CLI", Route: "phiwatch " + action}
	if err := audit.NewStoreAuditor(s).Record(ctx, e); err != nil {
		log.Error("audit entry not written", "action", action, "err", err)
	}
}

func auditTenant(owner string) string {
	if owner == api.MSPScope {
		return ""
	}
	return owner
}

// setupToken is `phiwatch token`: API tokens for machines.
func setupToken(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var f accessFlags
	f.register(fs, false)
	return func(ctx context.Context, args []string) error {
		sub, err := parseSub(fs, args, "token", "create", "list", "revoke")
		if err != nil {
			return err
		}
		s, log, err := f.open(ctx, e)
		if err != nil {
			return err
		}
		defer s.Close()
		acc := api.NewAccess(s, api.AccessOptions{})
		by := f.operator(e)
		switch sub {
		case "create":
			secret, rec, err := acc.CreateToken(ctx, by, api.TokenRequest{Name: f.name, Role: authz.Role(f.role), Scope: f.scope(),
				Expires: f.expires, Reason: f.reason})
			if err != nil {
				return fmt.Errorf("token create: %w", err)
			}
			record(ctx, s, log, by, auditTenant(rec.Owner), audit.ActionTokenCreate, rec.TokenID, rec.Role+" over "+rec.Scope().String()+"; "+rec.Reason)
			fmt.Fprintf(e.stderr, "token %s (%s): %s over %s, expires %s.\nStore it now: phiwatch keeps only its hash and cannot show it again.\n",
				rec.TokenID, rec.Name, rec.Role, rec.Scope(), rec.ExpiresAt.Format(time.RFC3339))
			fmt.Fprintln(e.stdout, secret)
			return nil
		case "revoke":
			if f.id == "" {
				return errors.New("usage: phiwatch token revoke --id tok_… --reason TEXT")
			}
			rec, err := acc.RevokeToken(ctx, by, "", f.id, f.reason)
			if err != nil {
				return fmt.Errorf("token revoke: %w", err)
			}
			record(ctx, s, log, by, auditTenant(rec.Owner), audit.ActionTokenRevoke, rec.TokenID, f.reason)
			fmt.Fprintf(e.stdout, "token %s (%s) revoked\n", rec.TokenID, rec.Name)
			return nil
		}
		list, err := acc.ListTokens(ctx, f.tenant)
		if err != nil {
			return err
		}
		if f.format == "json" {
			return writeJSONLines(e.stdout, list, func(t api.TokenRecord) any { t.TokenSHA256 = ""; return t })
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tSCOPE\tEXPIRES\tSTATE\tCREATED BY")
		now := time.Now()
		for _, t := range list {
			state := "active"
			switch {
			case t.Revoked:
				state = "revoked by " + t.ChangedBy
			case !now.Before(t.ExpiresAt):
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.TokenID, t.Name, t.Role, t.Scope(), t.ExpiresAt.Format(time.DateOnly), state, t.CreatedBy)
		}
		return tw.Flush()
	}
}

func writeJSONLines[T any](w io.Writer, list []T, view func(T) any) error {
	enc := json.NewEncoder(w)
	for _, v := range list {
		if err := enc.Encode(view(v)); err != nil {
			return err
		}
	}
	return nil
}

// setupGrant is `phiwatch grant`: role grants for people, and tenant
// groups.
func setupGrant(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var f accessFlags
	f.register(fs, true)
	return func(ctx context.Context, args []string) error {
		sub, err := parseSub(fs, args, "grant", "add", "list", "revoke", "group-set", "groups")
		if err != nil {
			return err
		}
		s, log, err := f.open(ctx, e)
		if err != nil {
			return err
		}
		defer s.Close()
		acc := api.NewAccess(s, api.AccessOptions{})
		by := f.operator(e)
		switch sub {
		case "add":
			wf := map[string]string{}
			for _, kv := range strings.Split(f.workforce, ",") {
				if kv = strings.TrimSpace(kv); kv == "" {
					continue
				}
				t, id, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--workforce-id %q: want TENANT=ID", kv)
				}
				wf[t] = id
			}
			g, err := acc.PutGrant(ctx, by, api.GrantRequest{Principal: f.principal, DisplayName: f.name, Role: authz.Role(f.role),
				Scope: f.scope(), WorkforceIDs: wf, Reason: f.reason})
			if err != nil {
				return fmt.Errorf("grant add: %w", err)
			}
			record(ctx, s, log, by, auditTenant(g.Owner), audit.ActionGrantChange, g.Principal, g.Role+" over "+g.Scope().String()+"; "+g.Reason)
			fmt.Fprintf(e.stdout, "%s is %s over %s\n", g.Principal, g.Role, g.Scope())
			return nil
		case "revoke":
			g, err := acc.RevokeGrant(ctx, by, f.principal, f.reason)
			if err != nil {
				return fmt.Errorf("grant revoke: %w", err)
			}
			record(ctx, s, log, by, auditTenant(g.Owner), audit.ActionGrantRevoke, g.Principal, f.reason)
			fmt.Fprintf(e.stdout, "grant of %s revoked\n", g.Principal)
			return nil
		case "group-set":
			sc := f.scope()
			g, err := acc.SetGroup(ctx, by, f.group, sc.Tenants, f.reason)
			if err != nil {
				return fmt.Errorf("grant group-set: %w", err)
			}
			record(ctx, s, log, by, "", audit.ActionGrantChange, "group:"+g.Name, f.reason)
			fmt.Fprintf(e.stdout, "tenant group %s: %s\n", g.Name, strings.Join(g.Tenants, ", "))
			return nil
		case "groups":
			groups, err := acc.ListGroups(ctx)
			if err != nil {
				return err
			}
			if f.format == "json" {
				return writeJSONLines(e.stdout, groups, func(g api.TenantGroup) any { return g })
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GROUP\tTENANTS\tCHANGED BY\tCHANGED")
			for _, g := range groups {
				if !g.Deleted {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, strings.Join(g.Tenants, ","), g.ChangedBy, g.VersionAt.Format(time.RFC3339))
				}
			}
			return tw.Flush()
		}
		list, err := acc.ListGrants(ctx, f.tenant)
		if err != nil {
			return err
		}
		if f.format == "json" {
			return writeJSONLines(e.stdout, list, func(g api.GrantRecord) any { return g })
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PRINCIPAL\tNAME\tROLE\tSCOPE\tSTATE\tCHANGED BY\tREASON")
		for _, g := range list {
			state := "active"
			if g.Revoked {
				state = "revoked"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Principal, g.DisplayName, g.Role, g.Scope(), state, g.ChangedBy, g.Reason)
		}
		return tw.Flush()
	}
}
