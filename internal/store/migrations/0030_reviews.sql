-- The monthly log review (docs/review.md). Every table is append-only:
-- each change (opening, assignment, decision, answer, sign-off, amendment)
-- is a new version row carrying who made it, when and why; the *_current
-- views hold the latest version. The versions are the evidence an auditor
-- reads, so nothing here is updated or merged away.

-- One review period per tenant and calendar month.
CREATE TABLE IF NOT EXISTS ${DB}.review_periods
(
    tenant_id     LowCardinality(String),
    period        String,
    month_start   Date,
    due_date      Date,
    state         LowCardinality(String),
    seed          String,
    sample_size   UInt32,
    sample_method String,
    opened_at     DateTime64(3, 'UTC'),
    opened_by     String,
    signed_off_by String,
    signed_off_at Nullable(DateTime64(3, 'UTC')),
    sign_off_note String,
    amendments    UInt32,
    action        LowCardinality(String),
    actor         String,
    reason        String,
    version_at    DateTime64(3, 'UTC'),
    retain_until  Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(month_start)
ORDER BY (tenant_id, period, version_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.review_periods_current AS
SELECT *
FROM ${DB}.review_periods
ORDER BY tenant_id, period, version_at DESC
LIMIT 1 BY tenant_id, period;

-- Worklist items: a case, an alert outside any case, or a sampled
-- unflagged access. Every version is a full copy of the item.
CREATE TABLE IF NOT EXISTS ${DB}.review_items
(
    tenant_id       LowCardinality(String),
    period          String,
    month_start     Date,
    item_id         String,
    kind            LowCardinality(String),
    ref_id          String,
    rank            UInt32,
    risk_score      Float32,
    severity        LowCardinality(String),
    actor_id        String,
    actor_name      String,
    patient_ids     Array(String),
    rules           Array(String),
    alert_ids       Array(String),
    summary         String,
    first_seen      DateTime64(3, 'UTC'),
    state           LowCardinality(String),
    assignee        String,
    assignee_email  String,
    decision        LowCardinality(String),
    decision_reason String,
    decided_by      String,
    decided_at      Nullable(DateTime64(3, 'UTC')),
    incident_id     String,
    question        String,
    question_to     String,
    answer          String,
    answered_by     String,
    amendment       Bool,
    action          LowCardinality(String),
    actor           String,
    reason          String,
    version_at      DateTime64(3, 'UTC'),
    retain_until    Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(month_start)
ORDER BY (tenant_id, period, item_id, version_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.review_items_current AS
SELECT *
FROM ${DB}.review_items
ORDER BY tenant_id, period, item_id, version_at DESC
LIMIT 1 BY tenant_id, period, item_id;

-- Reviewers' comments on items (never edited).
CREATE TABLE IF NOT EXISTS ${DB}.review_comments
(
    tenant_id    LowCardinality(String),
    period       String,
    month_start  Date,
    item_id      String,
    comment_id   String,
    author       String,
    body         String,
    amendment    Bool,
    created_at   DateTime64(3, 'UTC'),
    retain_until Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(month_start)
ORDER BY (tenant_id, period, item_id, created_at)
TTL retain_until;

-- Outgoing e-mail: the API queues notices (assignments, questionnaires,
-- just-in-time notices); the review job sends them and adds a version
-- with the outcome, so what was sent to whom, and when, is on record.
CREATE TABLE IF NOT EXISTS ${DB}.review_notifications
(
    tenant_id       LowCardinality(String),
    notification_id String,
    period          String,
    kind            LowCardinality(String),
    recipient       String,
    recipient_email String,
    subject         String,
    body            String,
    state           LowCardinality(String),
    error           String,
    created_at      DateTime64(3, 'UTC'),
    version_at      DateTime64(3, 'UTC'),
    retain_until    Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, notification_id, version_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.review_notifications_current AS
SELECT *
FROM ${DB}.review_notifications
ORDER BY tenant_id, notification_id, version_at DESC
LIMIT 1 BY tenant_id, notification_id;

-- Incident requests raised by "inappropriate" decisions, recorded by the
-- default incident opener until the incident records take them over.
CREATE TABLE IF NOT EXISTS ${DB}.review_incident_requests
(
    tenant_id    LowCardinality(String),
    request_id   String,
    period       String,
    item_id      String,
    actor_id     String,
    actor_name   String,
    patient_ids  Array(String),
    rules        Array(String),
    alert_ids    Array(String),
    summary      String,
    reason       String,
    requested_by String,
    requested_at DateTime64(3, 'UTC'),
    retain_until Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(requested_at)
ORDER BY (tenant_id, request_id, requested_at)
TTL retain_until;

-- Per-tenant review settings; the latest version wins, and a tenant
-- without one uses the deployment's defaults.
CREATE TABLE IF NOT EXISTS ${DB}.review_settings
(
    tenant_id    LowCardinality(String),
    sample_size  UInt32,
    due_day      UInt8,
    jit_notice   Bool,
    set_by       String,
    reason       String,
    version_at   DateTime64(3, 'UTC'),
    retain_until Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(version_at)
ORDER BY (tenant_id, version_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.review_settings_current AS
SELECT *
FROM ${DB}.review_settings
ORDER BY tenant_id, version_at DESC
LIMIT 1 BY tenant_id;
