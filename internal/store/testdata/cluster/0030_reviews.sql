CREATE TABLE IF NOT EXISTS phiwatch.review_periods_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(month_start)
ORDER BY (tenant_id, period, version_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.review_periods ON CLUSTER 'phiwatch' AS phiwatch.review_periods_local ENGINE = Distributed('phiwatch', phiwatch, review_periods_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.review_periods_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.review_periods_local
ORDER BY tenant_id, period, version_at DESC
LIMIT 1 BY tenant_id, period;

CREATE TABLE IF NOT EXISTS phiwatch.review_periods_current ON CLUSTER 'phiwatch' AS phiwatch.review_periods_current_local ENGINE = Distributed('phiwatch', phiwatch, review_periods_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.review_items_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(month_start)
ORDER BY (tenant_id, period, item_id, version_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.review_items ON CLUSTER 'phiwatch' AS phiwatch.review_items_local ENGINE = Distributed('phiwatch', phiwatch, review_items_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.review_items_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.review_items_local
ORDER BY tenant_id, period, item_id, version_at DESC
LIMIT 1 BY tenant_id, period, item_id;

CREATE TABLE IF NOT EXISTS phiwatch.review_items_current ON CLUSTER 'phiwatch' AS phiwatch.review_items_current_local ENGINE = Distributed('phiwatch', phiwatch, review_items_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.review_comments_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(month_start)
ORDER BY (tenant_id, period, item_id, created_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.review_comments ON CLUSTER 'phiwatch' AS phiwatch.review_comments_local ENGINE = Distributed('phiwatch', phiwatch, review_comments_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.review_notifications_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, notification_id, version_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.review_notifications ON CLUSTER 'phiwatch' AS phiwatch.review_notifications_local ENGINE = Distributed('phiwatch', phiwatch, review_notifications_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.review_notifications_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.review_notifications_local
ORDER BY tenant_id, notification_id, version_at DESC
LIMIT 1 BY tenant_id, notification_id;

CREATE TABLE IF NOT EXISTS phiwatch.review_notifications_current ON CLUSTER 'phiwatch' AS phiwatch.review_notifications_current_local ENGINE = Distributed('phiwatch', phiwatch, review_notifications_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.review_incident_requests_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(requested_at)
ORDER BY (tenant_id, request_id, requested_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.review_incident_requests ON CLUSTER 'phiwatch' AS phiwatch.review_incident_requests_local ENGINE = Distributed('phiwatch', phiwatch, review_incident_requests_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.review_settings_local ON CLUSTER 'phiwatch'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(version_at)
ORDER BY (tenant_id, version_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.review_settings ON CLUSTER 'phiwatch' AS phiwatch.review_settings_local ENGINE = Distributed('phiwatch', phiwatch, review_settings_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.review_settings_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.review_settings_local
ORDER BY tenant_id, version_at DESC
LIMIT 1 BY tenant_id;

CREATE TABLE IF NOT EXISTS phiwatch.review_settings_current ON CLUSTER 'phiwatch' AS phiwatch.review_settings_current_local ENGINE = Distributed('phiwatch', phiwatch, review_settings_current_local, cityHash64(tenant_id));

