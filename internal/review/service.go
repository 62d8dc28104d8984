package review

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/store"
)

// DB is the storage the review needs: one tenant's statements (each must
// filter by {tenant:String}) and inserts. *store.TenantStore is one.
type DB interface {
	Select(ctx context.Context, dest any, sql string, params store.Params) error
	Exec(ctx context.Context, sql string, params store.Params) error
	Insert(ctx context.Context, table string, rows any) error
	Database() string
	Tenant() string
}

// Config is the deployment's defaults; a tenant's review_settings row
// overrides sample size, due day and the just-in-time notice.
type Config struct {
	SampleSize int           // sampled unflagged accesses per period (default 25)
	DueDay     int           // day of the next month the review is due (default 15)
	Retention  time.Duration // how long review records are kept (default 7 years)
	JITNotice  bool          // default for the just-in-time notice (off)
}

// Service runs the review against a tenant's DB.
type Service struct {
	cfg       Config
	incidents IncidentOpener
	now       func() time.Time
}

// NewService builds the service. incidents may be nil: inappropriate
// decisions are then recorded as incident requests (StoreIncidents).
func NewService(cfg Config, incidents IncidentOpener, now func() time.Time) *Service {
	if cfg.SampleSize <= 0 {
		cfg.SampleSize = 25
	}
	if cfg.DueDay <= 0 {
		cfg.DueDay = 15
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 365 * 24 * time.Hour
	}
	if incidents == nil {
		incidents = StoreIncidents{}
	}
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, incidents: incidents, now: now}
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now().UTC() }

func (s *Service) retainUntil(from time.Time) Date { return DateOf(from.Add(s.cfg.Retention)) }

func chTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// Settings are a tenant's review settings.
type Settings struct {
	SampleSize uint32    `json:"sample_size"`
	DueDay     uint8     `json:"due_day"`
	JITNotice  bool      `json:"jit_notice"`
	SetBy      string    `json:"set_by"`
	Reason     string    `json:"reason"`
	VersionAt  time.Time `json:"version_at"`
}

// TenantSettings reads the tenant's settings, or the defaults.
func (s *Service) TenantSettings(ctx context.Context, db DB) (Settings, error) {
	var rows []Settings
	err := db.Select(ctx, &rows, fmt.Sprintf(`SELECT sample_size, due_day, jit_notice, set_by, reason, version_at
FROM %s.review_settings_current WHERE tenant_id = {tenant:String}`, db.Database()), nil)
	if err != nil {
		return Settings{}, fmt.Errorf("read review settings of %s: %w", db.Tenant(), err)
	}
	if len(rows) == 0 {
		return Settings{SampleSize: uint32(s.cfg.SampleSize), DueDay: uint8(s.cfg.DueDay), JITNotice: s.cfg.JITNotice, SetBy: "default"}, nil
	}
	return rows[0], nil
}

// SetSettings records new settings for the tenant (a new version).
func (s *Service) SetSettings(ctx context.Context, db DB, st Settings) error {
	if st.DueDay < 1 || st.DueDay > 28 {
		return fmt.Errorf("%w: due day must be 1 to 28", ErrInvalid)
	}
	if st.SampleSize > 10000 {
		return fmt.Errorf("%w: sample size is at most 10000", ErrInvalid)
	}
	if strings.TrimSpace(st.SetBy) == "" || strings.TrimSpace(st.Reason) == "" {
		return fmt.Errorf("%w: settings need who sets them and why", ErrInvalid)
	}
	st.VersionAt = s.Now()
	row := struct {
		Settings
		RetainUntil Date `json:"retain_until"`
	}{st, s.retainUntil(st.VersionAt)}
	return db.Insert(ctx, "review_settings", []any{row})
}

// Periods lists the tenant's periods, newest first.
func (s *Service) Periods(ctx context.Context, db DB) ([]Period, error) {
	var out []Period
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT * FROM %s.review_periods_current
WHERE tenant_id = {tenant:String} ORDER BY period DESC`, db.Database()), nil)
	if err != nil {
		return nil, fmt.Errorf("read review periods of %s: %w", db.Tenant(), err)
	}
	return out, nil
}

// Period reads one period (ErrNotFound when it was never opened).
func (s *Service) Period(ctx context.Context, db DB, period string) (Period, error) {
	if _, err := ParseMonth(period); err != nil {
		return Period{}, err
	}
	var out []Period
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT * FROM %s.review_periods_current
WHERE tenant_id = {tenant:String} AND period = {period:String}`, db.Database()), store.Params{"period": period})
	if err != nil {
		return Period{}, fmt.Errorf("read review period %s of %s: %w", period, db.Tenant(), err)
	}
	if len(out) == 0 {
		return Period{}, fmt.Errorf("%w: tenant %s has no review period %s", ErrNotFound, db.Tenant(), period)
	}
	return out[0], nil
}

// PeriodHistory lists every version of a period, oldest first.
func (s *Service) PeriodHistory(ctx context.Context, db DB, period string) ([]Period, error) {
	var out []Period
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT * FROM %s.review_periods
WHERE tenant_id = {tenant:String} AND period = {period:String} ORDER BY version_at`, db.Database()), store.Params{"period": period})
	if err != nil {
		return nil, fmt.Errorf("read history of review period %s: %w", period, err)
	}
	return out, nil
}

// ItemFilter narrows a worklist.
type ItemFilter struct {
	State, Kind, Assignee, Rule string
	Limit, Offset               int // Limit 0: all
}

// Items lists a period's current items in rank order.
func (s *Service) Items(ctx context.Context, db DB, period string, f ItemFilter) ([]Item, error) {
	p := store.Params{"period": period, "state": f.State, "kind": f.Kind, "assignee": f.Assignee, "rule": f.Rule}
	limit := ""
	if f.Limit > 0 {
		limit = "LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
		p["limit"], p["offset"] = strconv.Itoa(f.Limit), strconv.Itoa(f.Offset)
	}
	var out []Item
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT * FROM %s.review_items_current
WHERE tenant_id = {tenant:String} AND period = {period:String}
  AND ({state:String} = '' OR state = {state:String})
  AND ({kind:String} = '' OR kind = {kind:String})
  AND ({assignee:String} = '' OR assignee = {assignee:String})
  AND ({rule:String} = '' OR has(rules, {rule:String}))
ORDER BY rank, item_id %s`, db.Database(), limit), p)
	if err != nil {
		return nil, fmt.Errorf("read worklist %s of %s: %w", period, db.Tenant(), err)
	}
	return out, nil
}

// Item reads one current item.
func (s *Service) Item(ctx context.Context, db DB, period, itemID string) (Item, error) {
	var out []Item
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT * FROM %s.review_items_current
WHERE tenant_id = {tenant:String} AND period = {period:String} AND item_id = {item:String}`, db.Database()),
		store.Params{"period": period, "item": itemID})
	if err != nil {
		return Item{}, fmt.Errorf("read review item %s: %w", itemID, err)
	}
	if len(out) == 0 {
		return Item{}, fmt.Errorf("%w: period %s has no item %s", ErrNotFound, period, itemID)
	}
	return out[0], nil
}

// ItemHistory lists every version of an item, oldest first.
func (s *Service) ItemHistory(ctx context.Context, db DB, period, itemID string) ([]Item, error) {
	var out []Item
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT * FROM %s.review_items
WHERE tenant_id = {tenant:String} AND period = {period:String} AND item_id = {item:String} ORDER BY version_at`, db.Database()),
		store.Params{"period": period, "item": itemID})
	if err != nil {
		return nil, fmt.Errorf("read history of review item %s: %w", itemID, err)
	}
	return out, nil
}

// Comment is a reviewer's note on an item.
type Comment struct {
	Period      string    `json:"period"`
	MonthStart  Date      `json:"month_start"`
	ItemID      string    `json:"item_id"`
	CommentID   string    `json:"comment_id"`
	Author      string    `json:"author"`
	Body        string    `json:"body"`
	Amendment   bool      `json:"amendment"`
	CreatedAt   time.Time `json:"created_at"`
	RetainUntil Date      `json:"retain_until"`
}

// Comments lists an item's comments, oldest first.
func (s *Service) Comments(ctx context.Context, db DB, period, itemID string) ([]Comment, error) {
	var out []Comment
	err := db.Select(ctx, &out, fmt.Sprintf(`SELECT period, month_start, item_id, comment_id, author, body, amendment, created_at, retain_until
FROM %s.review_comments WHERE tenant_id = {tenant:String} AND period = {period:String} AND item_id = {item:String}
ORDER BY created_at, comment_id`, db.Database()), store.Params{"period": period, "item": itemID})
	if err != nil {
		return nil, fmt.Errorf("read comments of %s: %w", itemID, err)
	}
	return out, nil
}

// Progress is a period's state at a glance.
type Progress struct {
	Total      int                       `json:"total"`
	Decided    int                       `json:"decided"`
	ByState    map[string]int            `json:"by_state"`
	ByKind     map[string]int            `json:"by_kind"`
	ByReviewer map[string]map[string]int `json:"by_reviewer"` // assignee → state → count
	Overdue    bool                      `json:"overdue"`
	DaysLeft   int                       `json:"days_left"`
}

// ProgressOf counts the items.
func ProgressOf(p Period, items []Item, now time.Time) Progress {
	pr := Progress{ByState: map[string]int{}, ByKind: map[string]int{}, ByReviewer: map[string]map[string]int{}}
	for _, st := range States {
		pr.ByState[st] = 0
	}
	for _, it := range items {
		pr.Total++
		pr.ByState[it.State]++
		pr.ByKind[it.Kind]++
		if it.Decided() {
			pr.Decided++
		}
		who := it.Assignee
		if who == "" {
			who = "(unassigned)"
		}
		if pr.ByReviewer[who] == nil {
			pr.ByReviewer[who] = map[string]int{}
		}
		pr.ByReviewer[who][it.State]++
	}
	pr.Overdue = p.Overdue(now)
	pr.DaysLeft = int(p.DueDate.Time().Sub(now.Truncate(24*time.Hour)).Hours() / 24)
	return pr
}

func (s *Service) writeItems(ctx context.Context, db DB, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	if err := db.Insert(ctx, "review_items", items); err != nil {
		return fmt.Errorf("store review items: %w", err)
	}
	return nil
}

func (s *Service) writePeriod(ctx context.Context, db DB, p Period) error {
	if err := db.Insert(ctx, "review_periods", []Period{p}); err != nil {
		return fmt.Errorf("store review period %s: %w", p.Period, err)
	}
	return nil
}

// amended adds a period version counting an amendment.
func (s *Service) amended(ctx context.Context, db DB, p Period, ch Change, what string) error {
	if !ch.Amendment {
		return nil
	}
	p.Amendments++
	p.Action, p.Actor, p.Reason, p.VersionAt = "amended", ch.By.ID, what+": "+strings.TrimSpace(ch.Reason), ch.At
	return s.writePeriod(ctx, db, p)
}
