// Package identity links the actors of access events — an EHR user name, a
// Microsoft 365 UPN, a VPN login, a FHIR Practitioner reference — to the one
// workforce member each belongs to. It is the one place phiwatch matches
// account names to people: detectors ask it (Resolve, in Go) or join its
// rebuilt mapping (identity_links_current, in SQL); docs/identity.md is the
// operator's account of the rules.
//
// Explicit mappings come first: the roster's user_id, email, per-system
// user names, employee id, NPI and aliases, then the account inventories'
// owner_user_id and email. Only when none names the actor are the
// documented heuristics tried, each weaker than the last: a FHIR
// Practitioner (or PractitionerRole) reference resolved through the
// practitioners feed, DOMAIN\user and user@REALM, and the local part of an
// address in the practice's own domains. Every link carries its method, a
// confidence and the evidence in words. An actor that could be more than one
// person is reported as ambiguous with its candidates, never guessed.
package identity

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Method says how an actor was linked.
type Method string

// Methods, strongest first. Explicit mappings compare ignoring case and
// surrounding space: account names in Active Directory / Entra ID, email
// addresses and the EHRs phiwatch reads are case-insensitive, so a case
// difference is no evidence of another account.
const (
	RosterUserID      Method = "roster_user_id"
	RosterEHRUsername Method = "roster_ehr_username"
	RosterM365UPN     Method = "roster_m365_upn"
	RosterVPNUsername Method = "roster_vpn_username"
	RosterGoogleEmail Method = "roster_google_email"
	RosterEmail       Method = "roster_email"
	RosterEmployeeID  Method = "roster_employee_id"
	RosterNPI         Method = "roster_npi"
	RosterAlias       Method = "roster_alias"
	AccountOwner      Method = "account_owner"
	AccountEmail      Method = "account_email"
	// Heuristics.
	PractitionerIdentifier Method = "practitioner_identifier"
	PractitionerEmail      Method = "practitioner_email"
	DomainUser             Method = "domain_user"
	UserRealm              Method = "user_realm"
	EmailLocalPart         Method = "email_local_part"
	// Not links.
	Ambiguous Method = "ambiguous"
	Unlinked  Method = "unlinked"
)

// Confidence is how sure a method is, from 1 (the reference data says so)
// down; ambiguous and unlinked are 0.
func (m Method) Confidence() float32 {
	switch m {
	case RosterUserID, RosterEHRUsername, RosterM365UPN, RosterVPNUsername, RosterGoogleEmail,
		RosterEmail, RosterEmployeeID, RosterNPI, RosterAlias, AccountOwner:
		return 1
	case AccountEmail:
		return 0.95
	case PractitionerIdentifier, DomainUser, UserRealm:
		return 0.9
	case PractitionerEmail:
		return 0.85
	case EmailLocalPart:
		return 0.8
	}
	return 0
}

// rank orders explicit methods when one key reaches the same person
// through several fields: the most specific field names the link.
func (m Method) rank() int {
	for i, x := range []Method{RosterUserID, RosterEHRUsername, RosterM365UPN, RosterVPNUsername, RosterGoogleEmail,
		RosterEmail, RosterEmployeeID, RosterNPI, RosterAlias, AccountOwner, AccountEmail, PractitionerIdentifier, PractitionerEmail} {
		if m == x {
			return i
		}
	}
	return 99
}

// Link is what an actor id resolves to.
type Link struct {
	Actor      string  `json:"actor"`   // as the events carry it
	UserID     string  `json:"user_id"` // the workforce member; "" when unlinked or ambiguous
	Method     Method  `json:"method"`
	Confidence float32 `json:"confidence"`
	// Evidence says in words why, e.g. "RIVERSIDE\dortiz without its
	// domain is dortiz, the roster user_id of Dana Ortiz".
	Evidence string `json:"evidence"`
	// Candidates are the people an ambiguous actor could be.
	Candidates []string `json:"candidates,omitempty"`
}

// Linked reports whether the actor belongs to exactly one person.
func (l Link) Linked() bool { return l.UserID != "" }

// Person is what the index knows of a workforce member.
type Person struct {
	UserID          string   `json:"user_id"`
	Name            string   `json:"name"`
	Role            string   `json:"role"`
	Email           string   `json:"email"`
	Aliases         []string `json:"aliases"`
	EmployeeID      string   `json:"employee_id"`
	NPI             string   `json:"npi"`
	EHRUsername     string   `json:"ehr_username"`
	M365UPN         string   `json:"m365_upn"`
	VPNUsername     string   `json:"vpn_username"`
	GoogleEmail     string   `json:"google_email"`
	TerminationDate string   `json:"termination_date"` // YYYY-MM-DD, "" while employed
}

func (p Person) label() string {
	if p.Name != "" {
		return p.Name
	}
	return p.UserID
}

// Account is one current account of an inventory.
type Account struct {
	System      string `json:"system"`
	AccountID   string `json:"account_id"`
	Email       string `json:"email"`
	OwnerUserID string `json:"owner_user_id"`
}

// Practitioner is one current FHIR Practitioner.
type Practitioner struct {
	PractitionerID string   `json:"practitioner_id"`
	Identifiers    []string `json:"identifiers"` // "system|value"
	Emails         []string `json:"emails"`
}

// PractitionerRole ties a role id to its practitioner.
type PractitionerRole struct {
	RoleID         string `json:"role_id"`
	PractitionerID string `json:"practitioner_id"`
}

// Sources is the current reference data of one tenant.
type Sources struct {
	People        []Person
	Accounts      []Account
	Practitioners []Practitioner
	Roles         []PractitionerRole
}

// claim says that a key (or a practitioner) belongs to a person.
type claim struct {
	user     string // lower-case user_id
	method   Method
	evidence string
}

// Index resolves actor ids of one tenant. Build it with NewIndex or
// Resolver.Load; it is read-only afterwards and safe to share.
type Index struct {
	tenant        string
	people        map[string]Person  // by lower-case user_id
	keys          map[string][]claim // lower-case account key → who it names
	practitioners map[string][]claim // lower-case practitioner id → who it is
	roles         map[string]string  // lower-case PractitionerRole id → practitioner id
	domains       map[string]bool    // the practice's email domains
	problems      []string
}

// NewIndex indexes a tenant's reference data.
func NewIndex(tenant string, src Sources) *Index {
	x := &Index{tenant: tenant, people: map[string]Person{}, keys: map[string][]claim{},
		practitioners: map[string][]claim{}, roles: map[string]string{}, domains: map[string]bool{}}
	for _, p := range src.People {
		u := norm(p.UserID)
		if u == "" {
			continue
		}
		x.people[u] = p
		add := func(key string, m Method, field string) {
			if k := norm(key); k != "" {
				x.addClaim(k, claim{u, m, fmt.Sprintf("%s is the roster %s of %s", strings.TrimSpace(key), field, p.label())})
				if _, d, ok := strings.Cut(k, "@"); ok && m != RosterAlias {
					x.domains[d] = true
				}
			}
		}
		add(p.UserID, RosterUserID, "user_id")
		add(p.EHRUsername, RosterEHRUsername, "ehr_username")
		add(p.M365UPN, RosterM365UPN, "m365_upn")
		add(p.VPNUsername, RosterVPNUsername, "vpn_username")
		add(p.GoogleEmail, RosterGoogleEmail, "google_email")
		add(p.Email, RosterEmail, "email")
		add(p.EmployeeID, RosterEmployeeID, "employee_id")
		add(p.NPI, RosterNPI, "npi")
		for _, a := range p.Aliases {
			add(a, RosterAlias, "alias")
		}
	}
	// Accounts come after the whole roster, whose addresses an account's
	// email is matched against (roster fields only: one account's claim
	// never vouches for another's).
	for _, a := range src.Accounts {
		id, owner, email := norm(a.AccountID), norm(a.OwnerUserID), norm(a.Email)
		if id == "" {
			continue
		}
		what := fmt.Sprintf("%s account %s", a.System, strings.TrimSpace(a.AccountID))
		switch {
		case owner != "":
			p, ok := x.people[owner]
			if !ok {
				x.problems = append(x.problems, fmt.Sprintf("the %s names owner_user_id %q, who is not on the roster: its activity stays unlinked", what, a.OwnerUserID))
				continue
			}
			ev := fmt.Sprintf("the %s inventory names %s (%s) as the owner of %s", a.System, p.label(), p.UserID, strings.TrimSpace(a.AccountID))
			x.addClaim(id, claim{owner, AccountOwner, ev})
			if email != "" && email != id {
				x.addClaim(email, claim{owner, AccountOwner, ev})
			}
		case email != "":
			for _, c := range x.keys[email] {
				if c.method == RosterEmail || c.method == RosterM365UPN || c.method == RosterGoogleEmail {
					ev := fmt.Sprintf("the %s has email %s, the roster %s of %s", what, strings.TrimSpace(a.Email),
						strings.TrimPrefix(string(c.method), "roster_"), x.people[c.user].label())
					x.addClaim(id, claim{c.user, AccountEmail, ev})
				}
			}
		}
	}
	for _, p := range src.Practitioners {
		if id := norm(p.PractitionerID); id != "" {
			x.practitioners[id] = x.practitionerClaims(p)
		}
	}
	for _, r := range src.Roles {
		if id := norm(r.RoleID); id != "" && r.PractitionerID != "" {
			x.roles[id] = norm(r.PractitionerID)
		}
	}
	return x
}

func (x *Index) addClaim(key string, c claim) {
	for _, old := range x.keys[key] {
		if old.user == c.user && old.method == c.method {
			return
		}
	}
	x.keys[key] = append(x.keys[key], c)
}

// practitionerClaims links a practitioner to people: by an identifier the
// roster also holds (NPI to npi; any other to user_id, employee_id,
// ehr_username or an alias), else by an email address the roster holds.
func (x *Index) practitionerClaims(p Practitioner) []claim {
	var out []claim
	ref := "Practitioner/" + p.PractitionerID
	for _, tok := range p.Identifiers {
		system, value, ok := strings.Cut(tok, "|")
		if !ok {
			system, value = "", tok
		}
		for _, c := range x.keys[norm(value)] {
			npi := system == "http://hl7.org/fhir/sid/us-npi"
			if npi && c.method != RosterNPI || !npi && c.method != RosterUserID && c.method != RosterEmployeeID &&
				c.method != RosterEHRUsername && c.method != RosterAlias {
				continue
			}
			out = append(out, claim{c.user, PractitionerIdentifier,
				fmt.Sprintf("%s carries identifier %s, the roster %s of %s", ref, strings.TrimSpace(value),
					strings.TrimPrefix(string(c.method), "roster_"), x.people[c.user].label())})
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, e := range p.Emails {
		for _, c := range x.keys[norm(e)] {
			if c.method == RosterEmail || c.method == RosterM365UPN || c.method == RosterGoogleEmail {
				out = append(out, claim{c.user, PractitionerEmail,
					fmt.Sprintf("%s has email %s, the roster %s of %s", ref, strings.TrimSpace(e),
						strings.TrimPrefix(string(c.method), "roster_"), x.people[c.user].label())})
			}
		}
	}
	return out
}

// Tenant is the tenant the index describes.
func (x *Index) Tenant() string { return x.tenant }

// People counts the workforce members indexed.
func (x *Index) People() int { return len(x.people) }

// Person returns a workforce member by user_id (any case).
func (x *Index) Person(userID string) (Person, bool) {
	p, ok := x.people[norm(userID)]
	return p, ok
}

// Problems are reference-data faults found while indexing (an account owner
// who is not on the roster), worded for an operator.
func (x *Index) Problems() []string { return x.problems }

// Resolve links one actor id.
func (x *Index) Resolve(actor string) Link {
	a := strings.TrimSpace(actor)
	k := norm(a)
	if k == "" {
		return Link{Actor: actor, Method: Unlinked, Evidence: "the events carry no actor id"}
	}
	// 1. Explicit: the reference data names this account.
	if cs := x.keys[k]; len(cs) > 0 {
		return x.decide(actor, cs, "", 1)
	}
	// 2. A FHIR reference to a Practitioner or PractitionerRole.
	if typ, id := refParts(a); typ == "Practitioner" || typ == "PractitionerRole" {
		return x.resolvePractitioner(actor, typ, id)
	}
	// 3. DOMAIN\user: a Windows / VPN down-level logon name.
	if i := strings.LastIndexByte(k, '\\'); i > 0 && i < len(k)-1 {
		user := k[i+1:]
		if cs := x.keys[user]; len(cs) > 0 {
			return x.decide(actor, cs, fmt.Sprintf("%s without its domain is %s; ", a, user), DomainUser.Confidence()).as(DomainUser)
		}
		return Link{Actor: actor, Method: Unlinked, Evidence: fmt.Sprintf("%s without its domain is %s, which no roster entry or account names", a, user)}
	}
	// 4. user@REALM (Kerberos, RADIUS) or a UPN / email in the practice's
	// own domains whose local part is a user_id.
	if i := strings.LastIndexByte(a, '@'); i > 0 && i < len(a)-1 {
		local, domain := norm(a[:i]), a[i+1:]
		if isRealm(domain) {
			if cs := x.keys[local]; len(cs) > 0 {
				return x.decide(actor, cs, fmt.Sprintf("%s is user %s of realm %s; ", a, local, domain), UserRealm.Confidence()).as(UserRealm)
			}
		} else if x.domains[strings.ToLower(domain)] {
			var cs []claim
			for _, c := range x.keys[local] {
				if c.method == RosterUserID {
					cs = append(cs, c)
				}
			}
			if len(cs) > 0 {
				return x.decide(actor, cs, fmt.Sprintf("the local part of %s, in the practice's domain %s, is %s; ", a, strings.ToLower(domain), local),
					EmailLocalPart.Confidence()).as(EmailLocalPart)
			}
		}
	}
	return Link{Actor: actor, Method: Unlinked, Evidence: "no roster entry, account inventory or practitioner names it, and no heuristic applies"}
}

func (x *Index) resolvePractitioner(actor, typ, id string) Link {
	via := ""
	pid := norm(id)
	if typ == "PractitionerRole" {
		p, ok := x.roles[pid]
		if !ok {
			return Link{Actor: actor, Method: Unlinked, Evidence: fmt.Sprintf("PractitionerRole/%s is not in the practitioner-roles feed", id)}
		}
		via, pid = fmt.Sprintf("PractitionerRole/%s is a role of Practitioner/%s; ", id, p), p
	}
	cs, ok := x.practitioners[pid]
	switch {
	case !ok:
		return Link{Actor: actor, Method: Unlinked, Evidence: fmt.Sprintf("Practitioner/%s is not in the practitioners feed", pid)}
	case len(cs) == 0:
		return Link{Actor: actor, Method: Unlinked, Evidence: fmt.Sprintf("Practitioner/%s has no identifier or email the roster holds", pid)}
	}
	return x.decide(actor, cs, via, 1)
}

// decide turns the claims on a key into a link: one person, or ambiguous.
// prefix and scale carry a heuristic's words and confidence.
func (x *Index) decide(actor string, cs []claim, prefix string, scale float32) Link {
	users := map[string]bool{}
	best := cs[0]
	for _, c := range cs {
		users[c.user] = true
		if c.method.rank() < best.method.rank() {
			best = c
		}
	}
	if len(users) > 1 {
		cands := make([]string, 0, len(users))
		var why []string
		for _, c := range cs {
			why = append(why, c.evidence)
		}
		for u := range users {
			cands = append(cands, x.people[u].UserID)
		}
		sort.Strings(cands)
		sort.Strings(why)
		return Link{Actor: actor, Method: Ambiguous, Candidates: cands,
			Evidence: prefix + "it could be any of " + strings.Join(cands, ", ") + " (" + strings.Join(dedupe(why), "; ") + "); not guessed"}
	}
	conf := float32(math.Round(float64(best.method.Confidence()*scale)*100) / 100)
	return Link{Actor: actor, UserID: x.people[best.user].UserID, Method: best.method, Confidence: conf, Evidence: prefix + best.evidence}
}

// as relabels a link found through a heuristic with the heuristic's name;
// the evidence keeps the explicit mapping it ended at.
func (l Link) as(m Method) Link {
	if l.Method != Ambiguous && l.Method != Unlinked {
		l.Method = m
	}
	return l
}

// isRealm tells a Kerberos realm or bare domain (RIVERSIDE.LOCAL,
// riverside) from an email domain (riverside.example): realms are upper
// case by convention, and an email domain has a dot.
func isRealm(domain string) bool {
	return domain == strings.ToUpper(domain) || !strings.Contains(domain, ".")
}

// refParts splits a relative or absolute FHIR reference
// ("Practitioner/77", "https://ehr/fhir/Practitioner/77/_history/2").
func refParts(ref string) (typ, id string) {
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	segs := strings.Split(strings.Trim(ref, "/"), "/")
	for i, s := range segs {
		if s == "_history" {
			segs = segs[:i]
			break
		}
	}
	if len(segs) < 2 {
		return "", ""
	}
	return segs[len(segs)-2], segs[len(segs)-1]
}

func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
