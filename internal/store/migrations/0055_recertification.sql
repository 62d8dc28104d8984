-- Quarterly access recertification (docs/recertification.md). A campaign is
-- one tenant's quarter over some systems; its items are a snapshot of the
-- account inventories at creation, joined with the roster and last activity
-- from the logs; decisions and remediation tasks are append-only versions.
-- Nothing is updated in place: the versions are the evidence.
CREATE TABLE IF NOT EXISTS ${DB}.recert_campaigns
(
    tenant_id     LowCardinality(String),
    campaign_id   String,
    quarter       String,
    systems       Array(String),
    status        LowCardinality(String),
    due_date      Date,
    created_by    String,
    created_at    DateTime64(3, 'UTC'),
    signed_off_by String,
    signed_off_at Nullable(DateTime64(3, 'UTC')),
    changed_by    String,
    changed_at    DateTime64(3, 'UTC'),
    reason        String,
    retain_until  Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, campaign_id, changed_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.recert_campaigns_current AS
SELECT *
FROM ${DB}.recert_campaigns
ORDER BY tenant_id, campaign_id, changed_at DESC
LIMIT 1 BY tenant_id, campaign_id;

CREATE TABLE IF NOT EXISTS ${DB}.recert_items
(
    tenant_id        LowCardinality(String),
    campaign_id      String,
    item_id          String,
    system           LowCardinality(String),
    account_id       String,
    display_name     String,
    email            String,
    enabled          Bool,
    privileged       Bool,
    roles            Array(String),
    owner_user_id    String,
    owner_name       String,
    owner_role       String,
    owner_terminated Nullable(Date),
    assignee_id      String,
    assignee_name    String,
    last_login       Nullable(DateTime64(3, 'UTC')),
    last_activity    Nullable(DateTime64(3, 'UTC')),
    days_dormant     Int32,
    flags            Array(String),
    notes            Array(String),
    created_at       DateTime64(3, 'UTC'),
    retain_until     Date
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, campaign_id, item_id)
TTL retain_until;

CREATE TABLE IF NOT EXISTS ${DB}.recert_decisions
(
    tenant_id       LowCardinality(String),
    campaign_id     String,
    item_id         String,
    decision        LowCardinality(String),
    reason          String,
    new_roles       Array(String),
    decided_by      String,
    decided_by_name String,
    decided_at      DateTime64(3, 'UTC'),
    amendment       Bool,
    retain_until    Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(decided_at)
ORDER BY (tenant_id, campaign_id, item_id, decided_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.recert_decisions_current AS
SELECT *
FROM ${DB}.recert_decisions
ORDER BY tenant_id, campaign_id, item_id, decided_at DESC
LIMIT 1 BY tenant_id, campaign_id, item_id;

CREATE TABLE IF NOT EXISTS ${DB}.recert_tasks
(
    tenant_id    LowCardinality(String),
    campaign_id  String,
    item_id      String,
    action       LowCardinality(String),
    status       LowCardinality(String),
    evidence     String,
    checked_at   DateTime64(3, 'UTC'),
    retain_until Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(checked_at)
ORDER BY (tenant_id, campaign_id, item_id, checked_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.recert_tasks_current AS
SELECT *
FROM ${DB}.recert_tasks
ORDER BY tenant_id, campaign_id, item_id, checked_at DESC
LIMIT 1 BY tenant_id, campaign_id, item_id;
