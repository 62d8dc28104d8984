package demo

import (
	"time"
)

// specialPrefix starts the MRNs of the planted patients; ordinary work
// draws from MRN001000 up and never reaches them.
const specialPrefix = "MRN9"

// The planted patients.
const (
	ptVIP        = "MRN900001" // meta.security VIP, never scheduled
	ptRestricted = "MRN900002" // meta.security R, seen normally: a hard negative
	ptDeceased   = "MRN900003" // seen on day 2, dies on day 8
	ptFamily     = "MRN900004" // lives with the front-desk clerk Dana Ortiz
	ptCoworker   = "MRN900005" // is Sam Reyes, the billing clerk
	ptOrtizA     = "MRN900006" // shares Dana's surname, not her home: a hard negative
	ptOrtizB     = "MRN900007"
	ptBreakGlass = "MRN900008" // never scheduled, opened break-glass
	ptOnCall     = "MRN900009" // seen at night by the on-call physician
)

// geoCSV maps the demo's public (documentation-range) addresses. 192.0.2.0/24
// stays unknown, as much of the internet is to a small CIDR table.
const geoCSV = `network,country_iso,country,region,city,latitude,longitude
198.51.100.0/24,US,United States,Massachusetts,Cambridge,42.37,-71.11
203.0.113.0/24,RO,Romania,Bucharest,Bucharest,44.43,26.10
`

// weekday is the first weekday index at or after day d.
func (g *gen) weekday(start time.Time, d int) int {
	for ; ; d++ {
		if wd := start.AddDate(0, 0, d).Weekday(); wd != time.Saturday && wd != time.Sunday {
			return d
		}
	}
}

// plan adds the special patients to the panel and books the ones who are
// seen normally into the schedule, before the days are generated.
func (g *gen) plan(start time.Time) {
	dana, sam := g.byID["dortiz"], g.byID["sreyes"]
	died := start.AddDate(0, 0, 8).Add(6 * time.Hour)
	for _, p := range []patientRec{
		{ID: ptVIP, First: "Victor", Last: "Stone", Gender: "male", Birth: "1961-04-12", Phone: "617-555-9001", Street: "1 Beacon Hill", Zip: "02108", Security: []string{"VIP"}},
		{ID: ptRestricted, First: "Elena", Last: "Moreau", Gender: "female", Birth: "1983-09-30", Phone: "617-555-9002", Street: "44 Pine Street", Zip: "02139", Security: []string{"R"}},
		{ID: ptDeceased, First: "Ray", Last: "Dunn", Gender: "male", Birth: "1938-02-17", Phone: "617-555-9003", Street: "9 Cedar Lane", Zip: "02139", Died: &died},
		// Same surname and home as Dana; her own phone is her mobile.
		{ID: ptFamily, First: "Luis", Last: dana.Last, Gender: "male", Birth: "1990-06-02", Phone: "617-555-9004", Street: dana.Street, Zip: dana.Zip},
		// Sam Reyes herself: name, birth date and phone from the roster.
		{ID: ptCoworker, First: sam.First, Last: sam.Last, Gender: "female", Birth: sam.Birth, Phone: sam.Phone, Street: sam.Street, Zip: sam.Zip},
		{ID: ptOrtizA, First: "Carlos", Last: dana.Last, Gender: "male", Birth: "1957-11-20", Phone: "617-555-9006", Street: "310 Elm Street", Zip: "02141"},
		{ID: ptOrtizB, First: "Sofia", Last: dana.Last, Gender: "female", Birth: "2001-03-08", Phone: "617-555-9007", Street: "72 Birch Road", Zip: "02143"},
		{ID: ptBreakGlass, First: "Noah", Last: "Fischer", Gender: "male", Birth: "1975-12-01", Phone: "617-555-9008", Street: "5 Walnut Street", Zip: "02139"},
		{ID: ptOnCall, First: "Maya", Last: "Tan", Gender: "female", Birth: "1949-07-19", Phone: "617-555-9009", Street: "18 Spruce Court", Zip: "02139"},
	} {
		g.addPatient(p)
	}
	book := func(d int, s slot) { d = g.weekday(start, d); g.forced[d] = append(g.forced[d], s) }
	book(1, slot{pt: ptCoworker})
	book(2, slot{pt: ptDeceased})
	book(6, slot{pt: ptOrtizA, desk: dana.ID})
	book(8, slot{pt: ptRestricted})
	book(13, slot{pt: ptOrtizB, desk: dana.ID})
	g.out.HardNegatives = append(g.out.HardNegatives,
		"a restricted (R) patient seen at an ordinary appointment",
		"Dana Ortiz checks in two patients named Ortiz who live elsewhere",
		"the billing clerk Sam Reyes is a patient, seen and checked in by her coworkers",
		"the front desk opens every scheduled patient's chart on appointment days (about 60 a day)")
}

// injectRelationships plants the cases for the rules that compare the
// access with the patient: who they are, and whether a visit explains it.
func (g *gen) injectRelationships(start time.Time) {
	day := func(d int) time.Time { return start.AddDate(0, 0, g.weekday(start, d)) }
	doc, nurse, ma := g.first("physician"), g.byID["hbrooks"], g.first("medical_assistant")
	dana, rosa := g.byID["dortiz"], g.byID["rmedina"]

	// A chart opened after the patient died (on day 8; last seen on day 2).
	d := day(11)
	g.ehr(d.Add(10*time.Hour+15*time.Minute), ma, "read", ptDeceased, g.wsIP[ma.ID])
	g.out.Cases = append(g.out.Cases, Case{Name: "a medical assistant opens the chart of a patient who died three days before",
		Rule: "deceased_patient_access", ActorID: ma.ID, Day: d})

	// A physician breaks the glass on a patient with no encounter.
	d = day(10)
	g.ehrFor(d.Add(14*time.Hour+40*time.Minute), doc, "read", ptBreakGlass, g.wsIP[doc.ID], "ETREAT")
	g.ehrFor(d.Add(14*time.Hour+44*time.Minute), doc, "read", ptBreakGlass, g.wsIP[doc.ID], "ETREAT")
	g.out.Cases = append(g.out.Cases,
		Case{Name: "a physician breaks the glass on a patient with no encounter", Rule: "break_glass_unexplained", ActorID: doc.ID, Day: d},
		Case{Name: "…whom no appointment or encounter ties to them", Rule: "no_clinical_relationship", ActorID: doc.ID, Day: d})

	// The front-desk clerk opens her own family member's chart.
	d = day(17)
	g.ehr(d.Add(14*time.Hour+20*time.Minute), dana, "read", ptFamily, g.wsIP[dana.ID])
	g.out.Cases = append(g.out.Cases, Case{Name: "a front-desk clerk opens the chart of a family member at her address",
		Rule: "family_member_lookup", ActorID: dana.ID, Day: d})

	// A nurse opens a coworker's chart with no appointment (hers was on
	// day 1, beyond the ±14 days).
	d = day(19)
	g.ehr(d.Add(11*time.Hour), nurse, "read", ptCoworker, g.wsIP[nurse.ID])
	g.out.Cases = append(g.out.Cases,
		Case{Name: "a nurse opens a coworker's chart with no appointment", Rule: "coworker_lookup", ActorID: nurse.ID, Day: d},
		Case{Name: "…with no clinical relationship", Rule: "no_clinical_relationship", ActorID: nurse.ID, Day: d})

	// The same nurse looks at a VIP she has nothing to do with.
	d = day(22)
	g.ehr(d.Add(10*time.Hour+30*time.Minute), nurse, "read", ptVIP, g.wsIP[nurse.ID])
	g.out.Cases = append(g.out.Cases,
		Case{Name: "a nurse opens a VIP's chart with no relationship", Rule: "restricted_patient_access", ActorID: nurse.ID, Day: d},
		Case{Name: "…with no clinical relationship", Rule: "no_clinical_relationship", ActorID: nurse.ID, Day: d})

	// The physician's VPN account connects from Bucharest an hour after
	// their usual evening session from home ended.
	dd := g.weekday(start, 20)
	for wd := start.AddDate(0, 0, dd).Weekday(); wd != time.Monday && wd != time.Tuesday && wd != time.Thursday; wd = start.AddDate(0, 0, dd).Weekday() {
		dd++
	}
	d = start.AddDate(0, 0, dd)
	g.vpnSessionFrom(doc, "203.0.113.45", d.Add(21*time.Hour+40*time.Minute), 25, 0, nil)
	g.out.Cases = append(g.out.Cases,
		Case{Name: "a physician's VPN account connects from Romania, a country it never used", Rule: "vpn_new_country", ActorID: doc.ID, Day: d},
		Case{Name: "…an hour after a session from Cambridge, MA", Rule: "vpn_impossible_travel", ActorID: doc.ID, Day: d})

	// Hard negative: the on-call physician is called about one patient at
	// 2 a.m. and sees them; the urgent encounter explains the access, and
	// one patient at night is not after-hours browsing.
	d = day(16)
	g.encounter("enc-oncall-"+d.Format("20060102"), "", ptOnCall, doc, d.Add(time.Hour+45*time.Minute), d.Add(4*time.Hour+30*time.Minute), "EMER")
	g.vpnSession(doc, d.Add(2*time.Hour+5*time.Minute), 30, 2, []string{ptOnCall})
	g.out.HardNegatives = append(g.out.HardNegatives, "the on-call physician opens one patient's chart at 2 a.m. during an urgent encounter")

	// Hard negative: health information management releases 40 records
	// for a records request in one morning.
	d = day(17)
	for i := range 40 {
		g.ehr(d.Add(9*time.Hour+30*time.Minute+time.Duration(i*3)*time.Minute), rosa, "read", g.patient(), g.wsIP[rosa.ID])
	}
	g.out.HardNegatives = append(g.out.HardNegatives, "HIM releases 40 records in one morning")
}
