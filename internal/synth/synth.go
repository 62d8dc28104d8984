// Package synth generates synthetic normalized events for load tests,
// benchmarks and pipeline tests: many tenants, actors and patients, every
// source kind, deterministic for a seed. (The demo's realistic practice,
// with schedules and injected cases, is a separate generator.)
package synth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// Options shape the generated stream.
type Options struct {
	Seed     uint64
	Tenants  int       // default 20
	Actors   int       // per tenant, default 40
	Patients int       // per tenant, default 2000
	Start    time.Time // default 2026-10-01 UTC
}

// Generator yields events.
type Generator struct {
	o   Options
	rnd *rand.Rand
	t   time.Time
	n   int
}

// New returns a generator.
func New(o Options) *Generator {
	if o.Tenants <= 0 {
		o.Tenants = 20
	}
	if o.Actors <= 0 {
		o.Actors = 40
	}
	if o.Patients <= 0 {
		o.Patients = 2000
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)
	}
	return &Generator{o: o, rnd: rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15)), t: o.Start}
}

var (
	ehrActions = []event.Action{event.ActionView, event.ActionView, event.ActionView, event.ActionSearch, event.ActionUpdate, event.ActionCreate, event.ActionPrint}
	roles      = []string{"physician", "nurse", "front_desk", "billing", "medical_assistant"}
)

// Next returns the next event.
func (g *Generator) Next() event.Event {
	r := g.rnd
	g.n++
	g.t = g.t.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
	tenant := fmt.Sprintf("clinic-%02d", r.IntN(g.o.Tenants)+1)
	a := r.IntN(g.o.Actors)
	e := event.Event{
		TenantID:   tenant,
		Time:       g.t,
		ReceivedAt: g.t.Add(2 * time.Second),
		Actor:      event.Actor{ID: fmt.Sprintf("u%03d", a), Name: fmt.Sprintf("User %03d", a), Role: roles[a%len(roles)]},
		Outcome:    event.OutcomeSuccess,
		ClientIP:   fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(250), r.IntN(250)+1),
	}
	switch k := r.IntN(10); {
	case k < 7:
		e.SourceKind, e.SourceSystem = event.KindEHR, "synth-ehr"
		e.Action = ehrActions[r.IntN(len(ehrActions))]
		e.PatientID = fmt.Sprintf("MRN%06d", r.IntN(g.o.Patients))
		e.ResourceType, e.ResourceID = "Patient", e.PatientID
		e.Device = fmt.Sprintf("WS-%02d", a%12)
		e.PurposeOfUse = "TREAT"
	case k < 9:
		e.SourceKind, e.SourceSystem = event.KindEmail, "synth-email"
		e.Action = event.ActionSend
		ext := r.IntN(5) == 0
		dom := tenant + ".example"
		if ext {
			dom = "mail.example.com"
		}
		e.Email = &event.Email{Sender: e.Actor.ID + "@" + tenant + ".example", Recipients: []string{"x@" + dom},
			RecipientDomains: []string{dom}, External: ext, AttachmentCount: uint32(r.IntN(3)), SizeBytes: uint64(r.IntN(200000))}
	default:
		e.SourceKind, e.SourceSystem = event.KindVPN, "synth-vpn"
		e.Action = event.ActionVPNConnect
		e.VPN = &event.VPN{SessionID: fmt.Sprintf("s%d", g.n), AssignedIP: fmt.Sprintf("192.168.50.%d", r.IntN(250)+1), Group: "staff"}
	}
	e.Attrs = map[string]string{"seq": fmt.Sprint(g.n)}
	e.Raw = fmt.Sprintf("synthetic record %d of seed %d", g.n, g.o.Seed)
	e.EventID = event.ID(e.TenantID, e.SourceSystem, e.Raw)
	e.Normalize()
	return e
}

// WriteNDJSON writes n events as phiwatch-ndjson lines.
func (g *Generator) WriteNDJSON(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	for range n {
		e := g.Next()
		if err := enc.Encode(&e); err != nil {
			return err
		}
	}
	return bw.Flush()
}
