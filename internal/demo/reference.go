package demo

import (
	"encoding/json"
	"fmt"
	"time"
)

// patientRec is one FHIR R4 Patient of the practice.
type patientRec struct {
	ID, First, Last, Gender, Birth, Phone, Street, Zip string
	Security                                           []string   // meta.security codes (R, VIP, …)
	Died                                               *time.Time // deceasedDateTime
}

// patients builds the practice's panel: ordinary patients with MRNs from
// MRN001000 (the range the schedule draws from) and, from MRN900000, the
// special patients the injected cases and hard negatives are about, which
// ordinary work never opens by chance.
func (g *gen) patients() {
	staffNames := map[string]bool{}
	for _, p := range g.out.Staff {
		staffNames[p.Name] = true
	}
	for i := range g.o.Patients {
		var first, last string
		for {
			first, last = firstNames[g.r.IntN(len(firstNames))], lastNames[g.r.IntN(len(lastNames))]
			// A patient who shares a staff member's full name would be a
			// coworker match nobody planted.
			if !staffNames[first+" "+last] {
				break
			}
		}
		g.addPatient(patientRec{ID: fmt.Sprintf("MRN%06d", 1000+i), First: first, Last: last,
			Gender: []string{"female", "male"}[g.r.IntN(2)],
			Birth:  fmt.Sprintf("%d-%02d-%02d", 1935+g.r.IntN(85), 1+g.r.IntN(12), 1+g.r.IntN(28)),
			Phone:  fmt.Sprintf("617-555-%04d", 2000+i), Street: fmt.Sprintf("%d Maple Avenue", 1+i), Zip: "02139"})
	}
}

func (g *gen) addPatient(p patientRec) {
	res := map[string]any{
		"resourceType": "Patient", "id": p.ID,
		"meta":       g.meta(),
		"identifier": []any{map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}}, "system": "urn:phiwatch:demo:mrn", "value": p.ID}},
		"name":       []any{map[string]any{"use": "official", "family": p.Last, "given": []string{p.First}}},
		"gender":     p.Gender, "birthDate": p.Birth,
		"telecom": []any{map[string]any{"system": "phone", "value": p.Phone, "use": "home"}},
		"address": []any{map[string]any{"use": "home", "line": []string{p.Street}, "city": "Cambridge", "state": "MA", "postalCode": p.Zip, "country": "US"}},
	}
	if len(p.Security) > 0 {
		var codes []any
		for _, c := range p.Security {
			codes = append(codes, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": c})
		}
		res["meta"].(map[string]any)["security"] = codes
	}
	if p.Died != nil {
		res["deceasedDateTime"] = p.Died.In(g.o.Location).Format(time.RFC3339)
	}
	g.pats = append(g.pats, mustJSON(res))
}

// practitioners writes a FHIR Practitioner per physician whose identifier
// is the roster user_id, which is how identity resolution links
// Practitioner/<id> in appointments and encounters to the workforce.
func (g *gen) practitioners() {
	for _, p := range g.out.Staff {
		if p.Role != "physician" {
			continue
		}
		g.pracs = append(g.pracs, mustJSON(map[string]any{
			"resourceType": "Practitioner", "id": p.ID, "meta": g.meta(), "active": true,
			"identifier": []any{map[string]any{"system": "urn:phiwatch:demo:user", "value": p.ID}},
			"name":       []any{map[string]any{"family": p.Last, "given": []string{p.First}}},
			"telecom":    []any{map[string]any{"system": "email", "value": p.Email}},
		}))
	}
}

// appointment writes one FHIR R4 Appointment of a 30-minute slot.
func (g *gen) appointment(id, patient string, doc *Person, at time.Time, status string) {
	g.appts = append(g.appts, mustJSON(map[string]any{
		"resourceType": "Appointment", "id": id, "meta": g.meta(), "status": status,
		"serviceType": []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/service-type", "code": "124", "display": "General Practice"}}}},
		"start":       g.ts(at), "end": g.ts(at.Add(30 * time.Minute)),
		"participant": []any{
			map[string]any{"actor": map[string]any{"reference": "Patient/" + patient}, "status": "accepted"},
			map[string]any{"actor": map[string]any{"reference": "Practitioner/" + doc.ID, "display": doc.Name}, "status": "accepted"},
		},
	}))
}

// encounter writes one FHIR R4 Encounter; class AMB for office visits,
// EMER for the on-call physician's night call.
func (g *gen) encounter(id, appt, patient string, doc *Person, from, to time.Time, class string) {
	res := map[string]any{
		"resourceType": "Encounter", "id": id, "meta": g.meta(), "status": "finished",
		"class":       map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class},
		"subject":     map[string]any{"reference": "Patient/" + patient},
		"period":      map[string]any{"start": g.ts(from), "end": g.ts(to)},
		"participant": []any{map[string]any{"individual": map[string]any{"reference": "Practitioner/" + doc.ID, "display": doc.Name}}},
	}
	if appt != "" {
		res["appointment"] = []any{map[string]any{"reference": "Appointment/" + appt}}
	}
	g.encs = append(g.encs, mustJSON(res))
}

func (g *gen) meta() map[string]any { return map[string]any{"lastUpdated": g.ts(g.out.Start)} }

func (g *gen) ts(at time.Time) string { return at.In(g.o.Location).Format(time.RFC3339) }

// mustJSON marshals the generator's own maps of strings, numbers and
// slices, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("demo: marshal %T: %v", v, err))
	}
	return b
}
