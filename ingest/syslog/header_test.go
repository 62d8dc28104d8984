package syslog

import (
	"strings"
	"testing"
	"time"
)

func TestParseHeader(t *testing.T) {
	received := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	ny, _ := time.LoadLocation("America/New_York")
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	cases := []struct {
		name string
		in   string
		opt  HeaderOptions // ReceivedAt defaults to received
		want Header
		err  string // substring of the error; "" means none
	}{
		{
			name: "rfc3164 classic",
			in:   "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
			want: Header{Format: FormatRFC3164, Priority: 34, Time: utc(2026, 10, 11, 22, 14, 15, 0), Hostname: "mymachine", AppName: "su", Msg: "'su root' failed for lonvick on /dev/pts/8"},
		},
		{
			name: "rfc3164 tag with pid, space-padded day",
			in:   "<13>Feb  5 17:32:18 10.0.0.99 sshd[4321]: Accepted publickey for ops",
			want: Header{Format: FormatRFC3164, Priority: 13, Time: utc(2026, 2, 5, 17, 32, 18, 0), Hostname: "10.0.0.99", AppName: "sshd", ProcID: "4321", Msg: "Accepted publickey for ops"},
		},
		{
			name: "no priority",
			in:   "Oct 11 22:14:15 mymachine su: hello",
			want: Header{Format: FormatRFC3164, Priority: -1, Time: utc(2026, 10, 11, 22, 14, 15, 0), Hostname: "mymachine", AppName: "su", Msg: "hello"},
		},
		{
			name: "asa with year and host colon spacing",
			in:   "<166>Oct 01 2026 09:00:01 asa01 : %ASA-6-113039: Group <staff> User <jlee> IP <203.0.113.9> AnyConnect parent session started.",
			want: Header{Format: FormatRFC3164, Priority: 166, Time: utc(2026, 10, 1, 9, 0, 1, 0), TimeHasYear: true, Hostname: "asa01", Msg: "%ASA-6-113039: Group <staff> User <jlee> IP <203.0.113.9> AnyConnect parent session started."},
		},
		{
			name: "asa year, no hostname, colon after the stamp",
			in:   "<165>Mar 13 2025 09:37:52: %ASA-5-751025: Local:10.1.1.180:4500",
			want: Header{Format: FormatRFC3164, Priority: 165, Time: utc(2025, 3, 13, 9, 37, 52, 0), TimeHasYear: true, Msg: "%ASA-5-751025: Local:10.1.1.180:4500"},
		},
		{
			name: "host with colon attached",
			in:   "May  5 17:51:17 dev01: %ASA-6-302013: Built inbound",
			want: Header{Format: FormatRFC3164, Priority: -1, Time: utc(2026, 5, 5, 17, 51, 17, 0), Hostname: "dev01", Msg: "%ASA-6-302013: Built inbound"},
		},
		{
			name: "host then message that is no tag",
			in:   "Jun 26 18:04:40 198.51.100.10 %ASA-6-113005: AAA user authorization Rejected",
			want: Header{Format: FormatRFC3164, Priority: -1, Time: utc(2026, 6, 26, 18, 4, 40, 0), Hostname: "198.51.100.10", Msg: "%ASA-6-113005: AAA user authorization Rejected"},
		},
		{
			name: "tag without hostname",
			in:   "<13>Jun 26 18:04:40 cron[99]: job done",
			want: Header{Format: FormatRFC3164, Priority: 13, Time: utc(2026, 6, 26, 18, 4, 40, 0), AppName: "cron", ProcID: "99", Msg: "job done"},
		},
		{
			name: "fractional seconds",
			in:   "Apr 29 12:59:50.138340591: %ASA-6-302013: Built",
			want: Header{Format: FormatRFC3164, Priority: -1, Time: utc(2026, 4, 29, 12, 59, 50, 138340591), Msg: "%ASA-6-302013: Built"},
		},
		{
			name: "rfc3339 stamp in a bsd header (asa logging timestamp rfc5424)",
			in:   "<166>2018-06-27T12:17:46Z asa : %ASA-6-110002: Failed to locate egress interface",
			want: Header{Format: FormatRFC3164, Priority: 166, Time: utc(2018, 6, 27, 12, 17, 46, 0), TimeHasYear: true, Hostname: "asa", Msg: "%ASA-6-110002: Failed to locate egress interface"},
		},
		{
			name: "rfc3339 stamp with a colon and no host",
			in:   "<166>2024-06-26T01:35:42Z: %ASA-6-113008: AAA transaction status ACCEPT : user = USER_1",
			want: Header{Format: FormatRFC3164, Priority: 166, Time: utc(2024, 6, 26, 1, 35, 42, 0), TimeHasYear: true, Msg: "%ASA-6-113008: AAA transaction status ACCEPT : user = USER_1"},
		},
		{
			name: "no timestamp at all",
			in:   "<166>%ASA-6-113039: Group <g> User <u> IP <1.2.3.4> AnyConnect parent session started.",
			want: Header{Format: FormatRFC3164, Priority: 166, Msg: "%ASA-6-113039: Group <g> User <u> IP <1.2.3.4> AnyConnect parent session started."},
		},
		{
			name: "no header",
			in:   "%ASA-6-113039: Group <g> User <u>",
			want: Header{Format: FormatNone, Priority: -1, Msg: "%ASA-6-113039: Group <g> User <u>"},
		},
		{
			name: "zone-less stamp in the configured location",
			in:   "<13>Jul  4 08:00:00 h app: m",
			opt:  HeaderOptions{Location: ny},
			want: Header{Format: FormatRFC3164, Priority: 13, Time: utc(2026, 7, 4, 12, 0, 0, 0), Hostname: "h", AppName: "app", Msg: "m"},
		},
		{
			name: "december stamp received in january is last year's",
			in:   "<13>Dec 31 23:59:58 h app: m",
			opt:  HeaderOptions{ReceivedAt: time.Date(2027, 1, 1, 0, 0, 3, 0, time.UTC)},
			want: Header{Format: FormatRFC3164, Priority: 13, Time: utc(2026, 12, 31, 23, 59, 58, 0), Hostname: "h", AppName: "app", Msg: "m"},
		},
		{
			name: "january stamp from a clock slightly ahead on december 31st is next year's",
			in:   "<13>Jan  1 00:00:02 h app: m",
			opt:  HeaderOptions{ReceivedAt: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
			want: Header{Format: FormatRFC3164, Priority: 13, Time: utc(2027, 1, 1, 0, 0, 2, 0), Hostname: "h", AppName: "app", Msg: "m"},
		},
		{
			name: "a stamp months ahead of the receive time is last year's (an old file)",
			in:   "Dec 15 10:00:00 h app: m",
			want: Header{Format: FormatRFC3164, Priority: -1, Time: utc(2025, 12, 15, 10, 0, 0, 0), Hostname: "h", AppName: "app", Msg: "m"},
		},
		{
			name: "feb 29 with no leap year near the receive time",
			in:   "Feb 29 10:00:00 h app: m",
			opt:  HeaderOptions{ReceivedAt: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
			err:  "not a valid date",
		},
		{
			name: "feb 29 takes the leap year before the receive time",
			in:   "Feb 29 10:00:00 h app: m",
			opt:  HeaderOptions{ReceivedAt: time.Date(2028, 3, 10, 0, 0, 0, 0, time.UTC)},
			want: Header{Format: FormatRFC3164, Priority: -1, Time: utc(2028, 2, 29, 10, 0, 0, 0), Hostname: "h", AppName: "app", Msg: "m"},
		},
		{
			name: "rfc5424 full",
			in:   `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 7 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`,
			want: Header{Format: FormatRFC5424, Priority: 165, Time: utc(2003, 10, 11, 22, 14, 15, 3000000), TimeHasYear: true, Hostname: "mymachine.example.com", AppName: "evntslog", ProcID: "7", MsgID: "ID47",
				StructuredData: `[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]`, Msg: "An application event log entry..."},
		},
		{
			name: "rfc5424 nil values, BOM, offset",
			in:   "<34>1 2003-10-11T22:14:15.003-07:00 - - - - - \ufeff'su root' failed",
			want: Header{Format: FormatRFC5424, Priority: 34, Time: utc(2003, 10, 12, 5, 14, 15, 3000000), TimeHasYear: true, Msg: "'su root' failed"},
		},
		{
			name: "rfc5424 escaped bracket and quote in sd, several elements",
			in:   `<14>1 2026-10-01T09:00:00Z h a - - [x@1 k="a\]b" q="say \"hi\" ]"][y@2 z="]"] the msg [not sd]`,
			want: Header{Format: FormatRFC5424, Priority: 14, Time: utc(2026, 10, 1, 9, 0, 0, 0), TimeHasYear: true, Hostname: "h", AppName: "a",
				StructuredData: `[x@1 k="a\]b" q="say \"hi\" ]"][y@2 z="]"]`, Msg: "the msg [not sd]"},
		},
		{
			name: "rfc5424 without msg",
			in:   "<14>1 - host app - - -",
			want: Header{Format: FormatRFC5424, Priority: 14, Hostname: "host", AppName: "app"},
		},
		{name: "rfc5424 unterminated sd", in: `<14>1 - h a - - [x@1 k="v]`, err: "not terminated"},
		{name: "rfc5424 bad time", in: "<14>1 yesterday h a - - - m", err: "RFC 3339"},
		{name: "rfc5424 truncated", in: "<14>1 2026-10-01T09:00:00Z host", err: "ends before"},
		{name: "rfc5424 junk after sd", in: `<14>1 - h a - - [x@1]junk`, err: "not a space"},
		{name: "priority out of range", in: "<192>Oct 11 22:14:15 h a: m", err: "out of range"},
		{name: "impossible time of day", in: "<13>Oct 11 25:14:15 h a: m", err: "valid time of day"},
		{name: "impossible date with year", in: "<13>Feb 30 2026 10:14:15 h a: m", err: "valid date"},
		{name: "bad rfc3339", in: "<13>2026-13-45T10:00:00Z h : m", err: "RFC 3339"},
		{
			name: "not a priority, just angle brackets",
			in:   "<html> hello",
			want: Header{Format: FormatNone, Priority: -1, Msg: "<html> hello"},
		},
		{
			name: "a month-like word that is no stamp",
			in:   "<13>May the force be with you",
			want: Header{Format: FormatRFC3164, Priority: 13, Msg: "May the force be with you"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.opt.ReceivedAt.IsZero() {
				c.opt.ReceivedAt = received
			}
			got, err := ParseHeader(c.in, c.opt)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("want error containing %q, got %v (header %+v)", c.err, err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !got.Time.Equal(c.want.Time) {
				t.Errorf("time %v, want %v", got.Time.UTC(), c.want.Time)
			}
			got.Time, c.want.Time = time.Time{}, time.Time{}
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestHeaderFacilitySeverity(t *testing.T) {
	h, err := ParseHeader("<166>Oct 01 2026 09:00:01 asa : %ASA-6-1", HeaderOptions{})
	if err != nil || h.Facility() != 20 || h.Severity() != 6 {
		t.Fatalf("facility %d severity %d err %v, want local4 (20) and 6", h.Facility(), h.Severity(), err)
	}
	h, _ = ParseHeader("no header", HeaderOptions{})
	if h.Facility() != -1 || h.Severity() != -1 {
		t.Fatalf("without a priority: facility %d severity %d", h.Facility(), h.Severity())
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		"<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
		"<166>Oct 01 2026 09:00:01 asa01 : %ASA-6-113039: Group <g> User <u> IP <1.2.3.4> AnyConnect parent session started.",
		"<165>Mar 13 2025 09:37:52: %ASA-5-751025: x",
		"<166>2018-06-27T12:17:46Z asa : %ASA-6-110002: y",
		`<165>1 2003-10-11T22:14:15.003Z host app 7 ID47 [id@1 k="a\]b"] msg`,
		"<14>1 - - - - - -",
		"Apr 29 12:59:50.138340591: z",
		"Feb 29 10:00:00 h app: m",
		"<999>x", "<", "<1>", "1 ", "Jan", "Jan 1 ",
	} {
		f.Add(s)
	}
	received := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, in string) {
		h, err := ParseHeader(in, HeaderOptions{ReceivedAt: received})
		if err != nil {
			return
		}
		if !strings.HasSuffix(in, h.Msg) {
			t.Fatalf("Msg %q is not a suffix of the input %q", h.Msg, in)
		}
		if h.Priority < -1 || h.Priority > 191 {
			t.Fatalf("priority %d out of range", h.Priority)
		}
		if !h.Time.IsZero() && !h.TimeHasYear && h.Time.After(received.Add(futureSlack)) {
			t.Fatalf("inferred year puts %v after the receive time", h.Time)
		}
	})
}
