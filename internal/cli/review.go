package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phiwatch/phiwatch/internal/records"
	"github.com/phiwatch/phiwatch/internal/review"
	"github.com/phiwatch/phiwatch/internal/store"
)

const reviewUsage = `open --tenant T [--month YYYY-MM] | list --tenant T | settings --tenant T --sample-size N --due-day D [--jit-notice] --reason TEXT | run

  open      open the tenant's monthly log review (default: last month);
            idempotent: an open period is left as it is (docs/review.md)
  list      the tenant's review periods, with progress and overdue flags
  settings  record the tenant's review settings (a new version)
  run       one round of the review job over every tenant: open last
            month's periods, queue reminders and the digest, send mail`

// reviewFlags are the review job's settings, shared by phiwatch review and
// the API and all-in-one roles that run the job hourly.
type reviewFlags struct {
	sampleSize, dueDay, digestHour int
	remindDays                     string
	jitNotice                      bool
	interval                       time.Duration
	smtp                           review.SMTPConfig
}

func (r *reviewFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&r.sampleSize, "review-sample-size", 25, "unflagged accesses sampled into each monthly review (a tenant's review settings override it)")
	fs.IntVar(&r.dueDay, "review-due-day", 15, "day of the next month a monthly review is due (1-28; a tenant's settings override it)")
	fs.BoolVar(&r.jitNotice, "review-jit-notice", false, "default for the just-in-time notice to users whose access was flagged (per tenant in its settings)")
	fs.StringVar(&r.remindDays, "review-remind-days", "7,3,1", "days before the due date reviewers with open items get a reminder (overdue: daily)")
	fs.IntVar(&r.digestHour, "review-digest-hour", 7, "UTC hour from which the daily digest of open review items is sent")
	fs.DurationVar(&r.interval, "review-interval", time.Hour, "how often the review job runs (0: off)")
	fs.StringVar(&r.smtp.Host, "smtp-host", "", "SMTP relay for review e-mail (empty: mail is queued in review_notifications, not sent)")
	fs.IntVar(&r.smtp.Port, "smtp-port", 587, "SMTP port (STARTTLS is used when offered)")
	fs.StringVar(&r.smtp.From, "smtp-from", "", "sender address of review e-mail, e.g. phiwatch <review@msp.example>")
	fs.StringVar(&r.smtp.Username, "smtp-username", "", "SMTP user (empty: no authentication)")
	fs.StringVar(&r.smtp.PasswordFile, "smtp-password-file", "", "file holding the SMTP password")
}

func (r *reviewFlags) service() (*review.Service, error) {
	if r.dueDay < 1 || r.dueDay > 28 {
		return nil, fmt.Errorf("--review-due-day %d: want 1 to 28", r.dueDay)
	}
	if r.sampleSize < 0 || r.sampleSize > 10000 {
		return nil, fmt.Errorf("--review-sample-size %d: want 0 to 10000", r.sampleSize)
	}
	// An inappropriate access opens an incident in the compliance records.
	return review.NewService(review.Config{SampleSize: r.sampleSize, DueDay: r.dueDay, JITNotice: r.jitNotice}, records.ReviewIncidents{}, nil), nil
}

func (r *reviewFlags) job(s store.Querier, log *slog.Logger) (*review.Job, error) {
	svc, err := r.service()
	if err != nil {
		return nil, err
	}
	var days []int
	for _, f := range strings.Split(r.remindDays, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		var d int
		if _, err := fmt.Sscan(f, &d); err != nil || d < 0 || d > 60 {
			return nil, fmt.Errorf("--review-remind-days %q: want days like 7,3,1", r.remindDays)
		}
		days = append(days, d)
	}
	j := &review.Job{Store: s, Service: svc, Log: log, RemindDays: days, DigestHour: r.digestHour}
	if r.smtp.Host != "" {
		m, err := review.NewSMTPMailer(r.smtp)
		if err != nil {
			return nil, err
		}
		j.Mailer = m
	}
	return j, nil
}

// start runs the review job at start and every interval until ctx ends;
// the returned function waits for it to stop.
func (r *reviewFlags) start(ctx context.Context, s store.Querier, log *slog.Logger) (wait func(), err error) {
	if r.interval <= 0 {
		return func() {}, nil
	}
	j, err := r.job(s, log)
	if err != nil {
		return nil, err
	}
	if j.Mailer == nil {
		log.Info("review job: no --smtp-host, review e-mail is queued but not sent")
	}
	// The records' retention and the recertification reminders run on the
	// same clock; their mail goes out through the review job's outbox.
	cj := &records.Job{Store: s, Review: j.Service, RemindDays: j.RemindDays, Log: log, Now: time.Now}
	done, cdone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		j.Run(ctx, r.interval)
	}()
	go func() {
		defer close(cdone)
		cj.Run(ctx, r.interval)
	}()
	return func() { <-done; <-cdone }, nil
}

// setupReview is `phiwatch review`.
func setupReview(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	var (
		cfg, tenant, month, by, reason, format string
		sampleSize, dueDay                     int
		jit                                    bool
		lg                                     logFlags
		sf                                     storeFlags
		rf                                     reviewFlags
	)
	fs.StringVar(&cfg, "config", "", "YAML config file")
	lg.register(fs)
	sf.register(fs)
	rf.register(fs)
	fs.StringVar(&tenant, "tenant", "", "tenant (practice) id")
	fs.StringVar(&month, "month", "", "open: month to review, YYYY-MM (default: last month)")
	fs.StringVar(&by, "by", "", "who acts (default: $USER)")
	fs.StringVar(&reason, "reason", "", "settings: why (required; it is kept with the settings)")
	fs.IntVar(&sampleSize, "sample-size", 25, "settings: unflagged accesses sampled per period")
	fs.IntVar(&dueDay, "due-day", 15, "settings: day of the next month the review is due (1-28)")
	fs.BoolVar(&jit, "jit-notice", false, "settings: e-mail users a just-in-time notice when their access is flagged")
	fs.StringVar(&format, "format", "text", "list output: text or json")
	return func(ctx context.Context, args []string) error {
		sub, err := parseSub(fs, args, "review", "open", "list", "settings", "run")
		if err != nil {
			return err
		}
		log, err := lg.logger(e.stderr)
		if err != nil {
			return err
		}
		switch sub {
		case "open", "list", "settings":
			if tenant == "" {
				return fmt.Errorf("review %s: --tenant is required", sub)
			}
		case "run":
		}
		if by == "" {
			by = e.getenv("USER")
		}
		if by == "" {
			by = "cli"
		}
		m := review.MonthOf(time.Now()).Prev()
		if month != "" {
			if m, err = review.ParseMonth(month); err != nil {
				return fmt.Errorf("--month: %w", err)
			}
		}
		if format != "text" && format != "json" {
			return fmt.Errorf("--format %q: want text or json", format)
		}
		svc, err := rf.service()
		if err != nil {
			return err
		}
		s, err := sf.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := store.Migrate(ctx, s, log); err != nil {
			return err
		}
		if sub == "run" {
			j, err := rf.job(s, log)
			if err != nil {
				return err
			}
			return j.RunOnce(ctx)
		}
		db, err := store.ForTenant(s, tenant)
		if err != nil {
			return err
		}
		switch sub {
		case "open":
			p, err := svc.EnsurePeriod(ctx, db, m, by)
			if err != nil {
				return err
			}
			items, err := svc.Items(ctx, db, p.Period, review.ItemFilter{})
			if err != nil {
				return err
			}
			pr := review.ProgressOf(p, items, time.Now())
			fmt.Fprintf(e.stdout, "review %s of %s is %s: %d items (%d cases, %d alerts, %d sampled; seed %s), due %s\n",
				p.Period, tenant, p.State, pr.Total, pr.ByKind[review.KindCase], pr.ByKind[review.KindAlert], pr.ByKind[review.KindSample], p.Seed, p.DueDate)
			return nil
		case "settings":
			err := svc.SetSettings(ctx, db, review.Settings{SampleSize: uint32(max(sampleSize, 0)), DueDay: uint8(max(min(dueDay, 255), 0)),
				JITNotice: jit, SetBy: by, Reason: reason})
			if err != nil {
				return fmt.Errorf("review settings: %w", err)
			}
			fmt.Fprintf(e.stdout, "review settings of %s recorded: sample %d, due day %d, just-in-time notice %v (from the next period)\n", tenant, sampleSize, dueDay, jit)
			return nil
		}
		ps, err := svc.Periods(ctx, db)
		if err != nil {
			return err
		}
		type row struct {
			review.Period
			Progress review.Progress `json:"progress"`
		}
		var rows []row
		for _, p := range ps {
			items, err := svc.Items(ctx, db, p.Period, review.ItemFilter{})
			if err != nil {
				return err
			}
			rows = append(rows, row{p, review.ProgressOf(p, items, time.Now())})
		}
		if format == "json" {
			enc := json.NewEncoder(e.stdout)
			for _, r := range rows {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PERIOD\tSTATE\tDUE\tITEMS\tDECIDED\tOVERDUE\tSIGNED OFF BY\tAMENDMENTS")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%v\t%s\t%d\n", r.Period.Period, r.State, r.DueDate, r.Progress.Total, r.Progress.Decided,
				r.Progress.Overdue, r.SignedOffBy, r.Amendments)
		}
		return tw.Flush()
	}
}
