package reference

import (
	"os"
	"strings"
	"testing"
)

func TestParseAccounts(t *testing.T) {
	f, err := os.Open("testdata/accounts.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ParseAccounts(f, "riverside-family", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d accounts, want 6", len(rows))
	}
	vpn := rows[0]
	if vpn.System != "vpn" || vpn.AccountID != "vpn-dortiz" || !vpn.Enabled || vpn.Privileged || vpn.OwnerUserID != "dortiz" ||
		vpn.Created == nil || vpn.Created.Format("2006-01-02") != "2021-03-01" || vpn.LastLogin == nil || vpn.LastLogin.Hour() != 18 ||
		len(vpn.Groups) != 1 || vpn.Groups[0] != "RemoteStaff" {
		t.Fatalf("vpn-dortiz: %+v", vpn)
	}
	if admin := rows[2]; !admin.Privileged || admin.LastLogin != nil || admin.OwnerUserID != "" {
		t.Fatalf("break-glass admin: privileged, never logged in, no owner: %+v", admin)
	}
	if m := rows[3]; m.System != "m365" || len(m.Groups) != 2 || m.LastLogin == nil {
		t.Fatalf("m365 account: %+v", m)
	}
	if e := rows[5]; e.LastLogin == nil || e.LastLogin.Minute() != 1 || len(e.Roles) != 2 || !e.Privileged {
		t.Fatalf("ehr account: %+v", e)
	}
}

func TestParseAccountsOneSystemFile(t *testing.T) {
	// An Entra ID export: no system column, the operator names the system
	// (by an alias, here); header aliases; CRLF and a BOM.
	in := "\ufeffUsername,Name,Mail,Last_Sign_In,Admin,Owner\r\n" +
		"dortiz@riverside.example,Dana Ortiz,dana.ortiz@riverside.example,2026-10-21T08:00:00-04:00,no,dortiz\r\n" +
		"svc-scanner@riverside.example,Scanner,,,,\r\n"
	rows, err := ParseAccounts(strings.NewReader(in), "clinic-a", "entra")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].System != "m365" || rows[0].OwnerUserID != "dortiz" || rows[0].LastLogin.Hour() != 12 || !rows[1].Enabled {
		t.Fatalf("rows %+v", rows)
	}
}

func TestParseAccountsRejects(t *testing.T) {
	cases := []struct{ name, csv, system, want string }{
		{"no system anywhere", "account_id\nx\n", "", "no system column; add one or name the file's system"},
		{"bad default system", "account_id\nx\n", "ldap", `system "ldap": want one of ehr, m365, vpn, google, other`},
		{"bad system", "system,account_id\nldap,x\n", "", `line 2: system "ldap"`},
		{"empty system cell", "system,account_id\n,x\n", "", "line 2: system is empty"},
		{"no account id column", "system,email\nvpn,a@b.example\n", "", "no account_id column"},
		{"empty account id", "system,account_id\nvpn,\n", "", "line 2: account_id is empty"},
		{"duplicate in one system", "system,account_id\nvpn,jlee\nvpn,JLEE\n", "", `line 3: vpn account "JLEE" already on line 2`},
		{"bad bool", "system,account_id,enabled\nvpn,x,maybe\n", "", `enabled "maybe" is not a yes/no value`},
		{"bad time", "system,account_id,last_login\nvpn,x,yesterday\n", "", `last_login "yesterday" is not a time`},
		{"bad email", "system,account_id,email\nvpn,x,nope\n", "", `email "nope" is not an email address`},
		{"other tenant", "system,account_id,tenant_id\nvpn,x,clinic-b\n", "", "importing into"},
		{"no accounts", "system,account_id\n", "", "no accounts in the file"},
		{"unknown column", "system,account_id,password\nvpn,x,hunter2\n", "", `unknown column "password"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseAccounts(strings.NewReader(c.csv), "clinic-a", c.system)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	// The same name in two systems is two accounts.
	if rows, err := ParseAccounts(strings.NewReader("system,account_id\nvpn,jlee\nehr,jlee\n"), "clinic-a", ""); err != nil || len(rows) != 2 {
		t.Fatalf("jlee in vpn and ehr: %v, %v", rows, err)
	}
}
