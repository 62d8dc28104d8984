package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/store"
)

// Minimum necessary (docs/security.md): list responses never carry a
// patient's full id, MRN or name. Ids and MRNs show their last four
// characters ("••••4821"), names their initials ("J. D."), and each
// patient gets an opaque reference ("pr_…") that the reveal endpoint and
// the events filter accept, so a reviewer can act on a patient without the
// list showing who it is.

const (
	maskDots   = "••••"
	refPrefix  = "pr_"
	refHexLen  = 24
	minMaskLen = 3 // shorter strings are not replaced inside free text
)

func newMaskKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
}

// maskID shows the last four characters of an id or MRN.
func maskID(s string) string {
	if s == "" {
		return ""
	}
	n := utf8.RuneCountInString(s)
	if n <= 4 {
		return maskDots
	}
	r := []rune(s)
	return maskDots + string(r[n-4:])
}

// initials turns "Jane Q. Doe" into "J. Q. D.".
func initials(name string) string {
	var parts []string
	for _, w := range strings.FieldsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r == ',' }) {
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsLetter(r) {
			parts = append(parts, string(unicode.ToUpper(r))+".")
		}
	}
	return strings.Join(parts, " ")
}

// patientRef is the opaque reference of a patient id in a tenant. The SQL
// twin is refExpr; the two must agree.
func patientRef(key []byte, tenant, id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(hex.EncodeToString(key) + tenant + "|" + id))
	return refPrefix + hex.EncodeToString(sum[:])[:refHexLen]
}

// refExpr computes patientRef of column col in SQL, with the key hex in
// {mask_key:String}.
func refExpr(col string) string {
	return fmt.Sprintf("concat('%s', substring(lower(hex(SHA256(concat({mask_key:String}, tenant_id, '|', %s)))), 1, %d))", refPrefix, col, refHexLen)
}

func isRef(s string) bool {
	if len(s) != len(refPrefix)+refHexLen || !strings.HasPrefix(s, refPrefix) {
		return false
	}
	_, err := hex.DecodeString(s[len(refPrefix):])
	return err == nil
}

// patientNames is what the masker needs to know of a patient.
type patientNames struct {
	PatientID  string `json:"patient_id"`
	MRN        string `json:"mrn"`
	Name       string `json:"name"`
	GivenNames string `json:"given_names"`
	FamilyName string `json:"family_name"`
}

// masker replaces every known identifier of a page's patients in free
// text (reasons, explanations, resource ids).
type masker struct {
	key    []byte
	tenant string
	r      *strings.Replacer
}

// newMasker looks up the MRNs and names of ids (one query per page) so that
// reasons naming a patient by MRN or name are masked too. Patients without
// demographics are masked by id alone.
func newMasker(ctx context.Context, q *store.TenantStore, key []byte, ids []string) (*masker, error) {
	m := &masker{key: key, tenant: q.Tenant()}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) > 0 && ids[0] == "" {
		ids = ids[1:]
	}
	var known []patientNames
	if len(ids) > 0 {
		p := store.Params{"ids": store.ArrayParam(ids)}
		err := q.Select(ctx, &known, fmt.Sprintf(`
SELECT patient_id, mrn, name, given_names, family_name
FROM %s.patients_current
WHERE tenant_id = {tenant:String} AND patient_id IN {ids:Array(String)}`, q.Database()), p)
		if err != nil {
			return nil, fmt.Errorf("look up patients to mask: %w", err)
		}
	}
	repl := map[string]string{}
	add := func(old, masked string) {
		if utf8.RuneCountInString(old) >= minMaskLen {
			repl[old] = masked
		}
	}
	for _, id := range ids {
		add(id, maskID(id))
	}
	for _, p := range known {
		add(p.MRN, maskID(p.MRN))
		add(p.Name, initials(p.Name))
		if p.GivenNames != "" && p.FamilyName != "" {
			full := p.GivenNames + " " + p.FamilyName
			add(full, initials(full))
			add(p.FamilyName+", "+p.GivenNames, initials(full))
		}
	}
	// Longest first: strings.Replacer tries the pairs in order at each
	// position, so an id that contains another is replaced whole.
	olds := make([]string, 0, len(repl))
	for k := range repl {
		olds = append(olds, k)
	}
	slices.SortFunc(olds, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	pairs := make([]string, 0, 2*len(olds))
	for _, o := range olds {
		pairs = append(pairs, o, repl[o])
	}
	m.r = strings.NewReplacer(pairs...)
	return m, nil
}

func (m *masker) text(s string) string { return m.r.Replace(s) }

func (m *masker) ref(id string) string { return patientRef(m.key, m.tenant, id) }

// MaskedAlert is an alert in a list: patients masked, with references.
type MaskedAlert struct {
	Alert
	PatientRefs []string `json:"patient_refs"`
}

func maskAlerts(ctx context.Context, q *store.TenantStore, key []byte, items []Alert) ([]MaskedAlert, error) {
	var ids []string
	for _, a := range items {
		ids = append(ids, a.PatientIDs...)
	}
	m, err := newMasker(ctx, q, key, ids)
	if err != nil {
		return nil, err
	}
	out := make([]MaskedAlert, len(items))
	for i, a := range items {
		refs := make([]string, len(a.PatientIDs))
		masked := make([]string, len(a.PatientIDs))
		for j, id := range a.PatientIDs {
			refs[j], masked[j] = m.ref(id), maskID(id)
		}
		a.PatientIDs = masked
		a.Reason = m.text(a.Reason)
		expl := make([]string, len(a.Explanations))
		for j, e := range a.Explanations {
			expl[j] = m.text(e)
		}
		a.Explanations = expl
		if len(a.SuppressedBy) > 0 { // a suppression's reason is free text and may name the patient
			sup := make([]SuppressedBy, len(a.SuppressedBy))
			for j, sb := range a.SuppressedBy {
				sb.Reason = m.text(sb.Reason)
				sup[j] = sb
			}
			a.SuppressedBy = sup
		}
		out[i] = MaskedAlert{Alert: a, PatientRefs: refs}
	}
	return out, nil
}

// MaskedEvent is an access event in a list: patient masked, with a
// reference.
type MaskedEvent struct {
	Event
	PatientRef string `json:"patient_ref"`
}

func maskEvents(ctx context.Context, q *store.TenantStore, key []byte, items []Event) ([]MaskedEvent, error) {
	ids := make([]string, 0, len(items))
	for _, e := range items {
		ids = append(ids, e.PatientID)
	}
	m, err := newMasker(ctx, q, key, ids)
	if err != nil {
		return nil, err
	}
	out := make([]MaskedEvent, len(items))
	for i, e := range items {
		ref := m.ref(e.PatientID)
		e.PatientID = maskID(e.PatientID)
		e.ResourceID = m.text(e.ResourceID)
		if len(e.Attrs) > 0 {
			attrs := make(map[string]string, len(e.Attrs))
			for k, v := range e.Attrs {
				attrs[k] = m.text(v)
			}
			e.Attrs = attrs
		}
		out[i] = MaskedEvent{Event: e, PatientRef: ref}
	}
	return out, nil
}

// eventsTarget names what an events read was about, for the audit trail:
// the real patient id when given (the trail is where it belongs), else the
// reference, and the actor.
func eventsTarget(f EventFilter) string {
	var parts []string
	if f.Actor != "" {
		parts = append(parts, "actor:"+f.Actor)
	}
	if f.Patient != "" {
		parts = append(parts, "patient:"+f.Patient)
	}
	if f.PatientRef != "" {
		parts = append(parts, "patient_ref:"+f.PatientRef)
	}
	return strings.Join(parts, " ")
}

// maskText masks the given patients' ids, MRNs and names in text: the hook
// feature packages take for minimum necessary in their lists (e.g.
// ui.Deps.Mask; a patient id alone is masked with maskText(c, id,
// []string{id})). The masker of an id set is reused within the request; a
// failed demographics lookup falls back to masking the ids alone.
func (s *server) maskText(c *gin.Context, text string, ids []string) string {
	ts := route.Store(c)
	if ts == nil || len(ids) == 0 {
		return text
	}
	key := "phiwatch.masker." + strings.Join(ids, "\x00")
	if v, ok := c.Get(key); ok {
		if m, ok := v.(*masker); ok {
			return m.text(text)
		}
	}
	m, err := newMasker(c.Request.Context(), ts, s.cfg.MaskKey, ids)
	if err != nil {
		s.cfg.Log.Warn("mask: patient lookup failed, masking ids only", "tenant", ts.Tenant(), "err", err)
		pairs := make([]string, 0, 2*len(ids))
		ids = slices.Clone(ids)
		slices.SortFunc(ids, func(a, b string) int { return len(b) - len(a) }) // longest first, as in newMasker
		for _, id := range ids {
			if utf8.RuneCountInString(id) >= minMaskLen {
				pairs = append(pairs, id, maskID(id))
			}
		}
		m = &masker{key: s.cfg.MaskKey, tenant: ts.Tenant(), r: strings.NewReplacer(pairs...)}
	}
	c.Set(key, m)
	return m.text(text)
}
