CREATE TABLE IF NOT EXISTS phiwatch.recert_campaigns_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, campaign_id, changed_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.recert_campaigns ON CLUSTER 'phiwatch' AS phiwatch.recert_campaigns_local ENGINE = Distributed('phiwatch', phiwatch, recert_campaigns_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.recert_campaigns_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.recert_campaigns_local
ORDER BY tenant_id, campaign_id, changed_at DESC
LIMIT 1 BY tenant_id, campaign_id;

CREATE TABLE IF NOT EXISTS phiwatch.recert_campaigns_current ON CLUSTER 'phiwatch' AS phiwatch.recert_campaigns_current_local ENGINE = Distributed('phiwatch', phiwatch, recert_campaigns_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.recert_items_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', created_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, campaign_id, item_id)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.recert_items ON CLUSTER 'phiwatch' AS phiwatch.recert_items_local ENGINE = Distributed('phiwatch', phiwatch, recert_items_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.recert_decisions_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(decided_at)
ORDER BY (tenant_id, campaign_id, item_id, decided_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.recert_decisions ON CLUSTER 'phiwatch' AS phiwatch.recert_decisions_local ENGINE = Distributed('phiwatch', phiwatch, recert_decisions_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.recert_decisions_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.recert_decisions_local
ORDER BY tenant_id, campaign_id, item_id, decided_at DESC
LIMIT 1 BY tenant_id, campaign_id, item_id;

CREATE TABLE IF NOT EXISTS phiwatch.recert_decisions_current ON CLUSTER 'phiwatch' AS phiwatch.recert_decisions_current_local ENGINE = Distributed('phiwatch', phiwatch, recert_decisions_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.recert_tasks_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(checked_at)
ORDER BY (tenant_id, campaign_id, item_id, checked_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.recert_tasks ON CLUSTER 'phiwatch' AS phiwatch.recert_tasks_local ENGINE = Distributed('phiwatch', phiwatch, recert_tasks_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.recert_tasks_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.recert_tasks_local
ORDER BY tenant_id, campaign_id, item_id, checked_at DESC
LIMIT 1 BY tenant_id, campaign_id, item_id;

CREATE TABLE IF NOT EXISTS phiwatch.recert_tasks_current ON CLUSTER 'phiwatch' AS phiwatch.recert_tasks_current_local ENGINE = Distributed('phiwatch', phiwatch, recert_tasks_current_local, cityHash64(tenant_id));

