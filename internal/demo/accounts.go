package demo

import (
	"fmt"
	"strings"
)

// AccountsCSV is the practice's account inventory (docs/reference-feeds.md)
// as exported at the end of the demo period: an EHR and a Microsoft 365
// account per person, a VPN account for remote workers, and what a quarterly
// recertification should catch — the terminated person's accounts still
// enabled, an EHR admin entitlement on one nurse that no other nurse holds,
// a shared front-desk login nobody owns and an MSP break-glass account
// unused for months.
func AccountsCSV(out *Output) string {
	var b strings.Builder
	b.WriteString("system,account_id,display_name,email,enabled,created,last_login,roles,groups,privileged,owner_user_id\n")
	end := out.End.AddDate(0, 0, -1).Format("2006-01-02")
	driftDone := false
	for _, p := range out.Staff {
		role := ehrRole(p.Role)
		privileged := "no"
		if p.Role == "nurse" && !driftDone && p.Terminated < 0 {
			// Left over from covering the practice manager's leave.
			role += ";Admin"
			privileged = "yes"
			driftDone = true
		}
		fmt.Fprintf(&b, "ehr,%s,%s,%s,yes,2021-03-01,,%s,,%s,%s\n", p.ID, p.Name, p.Email, role, privileged, p.ID)
		fmt.Fprintf(&b, "m365,%s,%s,%s,yes,2021-03-01,,,Staff,no,%s\n", p.Email, p.Name, p.Email, p.ID)
		if p.VPN {
			user := p.ID
			if p.VPNUser != "" {
				user = p.VPNUser
			}
			fmt.Fprintf(&b, "vpn,%s,%s (VPN),,yes,2021-03-01,,,RemoteStaff,no,%s\n", user, p.Name, p.ID)
		}
	}
	fmt.Fprintf(&b, "ehr,frontdesk1,Front desk (shared),,yes,2019-06-01,%s,Scheduling,,no,\n", end)
	b.WriteString("vpn,msp-breakglass,MSP break-glass,,yes,2020-01-01,2026-01-12T03:10:00Z,,Admins,yes,\n")
	return b.String()
}

func ehrRole(role string) string {
	switch role {
	case "physician", "nurse_practitioner", "physician_assistant":
		return "Provider"
	case "nurse", "medical_assistant":
		return "Clinical"
	case "front_desk":
		return "Scheduling"
	case "billing":
		return "Billing"
	default:
		return "Staff"
	}
}
