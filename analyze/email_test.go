package analyze

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
	"github.com/phiwatch/phiwatch/internal/store"
)

func (b *evBuilder) mail(actor string, action event.Action, tm time.Time, m *event.Email, attrs map[string]string) string {
	return b.add(event.Event{SourceKind: event.KindEmail, SourceSystem: "m365-audit", Actor: event.Actor{ID: actor},
		Action: action, Time: tm, Email: m, Attrs: attrs})
}

func TestExternalForwarding(t *testing.T) {
	s := testStore(t)
	tenant := "mail-fwd"
	addPeople(t, s, tenant, store.WorkforceRow{UserID: "nora", Name: "Nora Diaz", Role: "nurse", Email: "nora@clinic.example"})
	b := &evBuilder{tenant: tenant}
	// Nora: an inbox rule forwarding to her Gmail (the parser leaves external false).
	b.mail("nora@clinic.example", event.ActionRuleChange, oct(6, 22, 0), nil,
		map[string]string{"source_action": "New-InboxRule", "rule_name": "fwd", "forward_to": "Nora.Home@GMAIL.com"})
	// Oscar: mailbox forwarding to a partner the source marked external.
	b.mail("oscar@clinic.example", event.ActionForward, oct(6, 9, 0),
		&event.Email{Recipients: []string{"billing@partner.example"}, RecipientDomains: []string{"partner.example"}, External: true},
		map[string]string{"source_action": "Set-Mailbox"})
	// Pat: forwarding to a colleague inside the practice.
	b.mail("pat@clinic.example", event.ActionRuleChange, oct(6, 9, 0),
		&event.Email{Recipients: []string{"frontdesk@clinic.example"}, RecipientDomains: []string{"clinic.example"}},
		map[string]string{"source_action": "Set-InboxRule", "forward_to": "frontdesk@clinic.example"})
	// Quinn: a rule change with no forwarding at all.
	b.mail("quinn@clinic.example", event.ActionRuleChange, oct(6, 9, 0), nil, map[string]string{"source_action": "Remove-InboxRule"})
	b.insert(t, s)

	got := detectAll(t, s, ExternalForwarding{}, tenant, octoberUTC())
	if len(got) != 2 {
		t.Fatalf("want alerts for nora and oscar, got %v", got)
	}
	if a := got["nora"]; len(a) != 1 || a[0].Severity != SeverityHigh || a[0].ActorName != "Nora Diaz" ||
		!strings.Contains(a[0].Reason, "nora.home@gmail.com (personal webmail)") || !strings.Contains(a[0].Reason, `inbox rule ("fwd")`) {
		t.Fatalf("nora: %+v", a)
	}
	if a := got["oscar@clinic.example"]; len(a) != 1 || !strings.Contains(a[0].Reason, "set mailbox forwarding") {
		t.Fatalf("oscar: %+v", a)
	}
}

func TestPersonalWebmail(t *testing.T) {
	s := testStore(t)
	tenant := "mail-web"
	b := &evBuilder{tenant: tenant}
	send := func(actor, to string, tm time.Time, attachments uint32, size uint64) {
		dom := to[strings.LastIndexByte(to, '@')+1:]
		b.mail(actor, event.ActionSend, tm, &event.Email{Sender: actor, Recipients: []string{to}, RecipientDomains: []string{dom},
			AttachmentCount: attachments, SizeBytes: size}, map[string]string{"subject_len": "30"})
	}
	send("quinn@clinic.example", "q@gmail.com", oct(14, 15, 0), 2, 1<<20)
	for i := range 3 { // Rae: three 6 MB messages to Yahoo UK in a day
		send("rae@clinic.example", "rae77@yahoo.co.uk", oct(14, 16, 10*i), 0, 6<<20)
	}
	send("sam@clinic.example", "sam@gmail.com", oct(14, 15, 0), 0, 10<<10)      // small, no attachment
	send("tom@clinic.example", "lab@partner.example", oct(14, 15, 0), 3, 8<<20) // a business partner
	b.insert(t, s)

	got := detectAll(t, s, PersonalWebmail{}, tenant, octoberUTC())
	if len(got) != 2 {
		t.Fatalf("want alerts for quinn and rae, got %v", got)
	}
	if a := got["quinn@clinic.example"]; len(a) != 1 || a[0].Severity != SeverityMedium ||
		!strings.Contains(a[0].Reason, "gmail.com, 1.0 MB, 2 attachments") {
		t.Fatalf("quinn: %+v", a)
	}
	if a := got["rae@clinic.example"]; len(a) != 1 || a[0].Severity != SeverityHigh || a[0].EvidenceCount != 3 ||
		!strings.Contains(a[0].Reason, "(yahoo.co.uk)") {
		t.Fatalf("rae: %+v", a)
	}
	for _, d := range []string{"gmx.de", "GMAIL.COM", "proton.me", "hotmail.fr"} {
		if !isPersonalWebmail(d) {
			t.Errorf("%s is personal webmail", d)
		}
	}
	for _, d := range []string{"clinic.example", "gmx", "mygmail.com", ""} {
		if isPersonalWebmail(d) {
			t.Errorf("%s is not personal webmail", d)
		}
	}
}

func TestMassMailboxAccess(t *testing.T) {
	s := testStore(t)
	tenant := "mail-mass"
	b := &evBuilder{tenant: tenant}
	for i := range 5 { // Uma: five colleagues' mailboxes in twenty minutes
		owner := fmt.Sprintf("staff%d@clinic.example", i)
		b.mail("uma@clinic.example", event.ActionMailboxAccess, oct(20, 1, 4*i), nil, map[string]string{"mailbox_owner": owner})
	}
	for i := range 50 { // Vic: his own mailbox, all hour
		b.mail("vic@clinic.example", event.ActionMailboxAccess, oct(20, 9, i), nil, map[string]string{"mailbox_owner": "VIC@clinic.example"})
	}
	// Wes: three other mailboxes (a delegate): at the limit, not over.
	for i := range 3 {
		b.mail("wes@clinic.example", event.ActionMailboxAccess, oct(20, 9, i), nil, map[string]string{"mailbox_owner": fmt.Sprintf("dr%d@clinic.example", i)})
	}
	b.insert(t, s)

	got := detectAll(t, s, MassMailboxAccess{}, tenant, octoberUTC())
	if len(got) != 1 {
		t.Fatalf("want one alert for uma, got %v", got)
	}
	if a := got["uma@clinic.example"]; len(a) != 1 || a[0].Severity != SeverityHigh || a[0].EvidenceCount != 5 ||
		!strings.Contains(a[0].Reason, "in 5 mailboxes of other people") {
		t.Fatalf("uma: %+v", a)
	}
	// With a lower volume threshold, Vic's 50 accesses in an hour count.
	if got := detectAll(t, s, MassMailboxAccess{MaxEvents: 20}, tenant, octoberUTC()); len(got["vic@clinic.example"]) != 1 {
		t.Fatalf("MaxEvents 20: %v", got)
	}
}
