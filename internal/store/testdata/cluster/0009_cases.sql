CREATE TABLE IF NOT EXISTS phiwatch.cases_local ON CLUSTER 'phiwatch'
(
    tenant_id          LowCardinality(String),
    case_id            String,
    actor_id           String,
    actor_name         String,
    actor_role         LowCardinality(String),
    status             LowCardinality(String),
    alert_ids          Array(String),
    rules              Array(String),
    first_seen         DateTime64(3, 'UTC'),
    last_seen          DateTime64(3, 'UTC'),
    alert_count        UInt32,
    distinct_patients  UInt32,
    actor_patient_days UInt32,
    active_days        UInt32,
    risk_score         Float32,
    max_severity       LowCardinality(String),
    summary            String,
    updated_at         DateTime64(3, 'UTC'),
    updated_by         String,
    retain_until       Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(first_seen)
ORDER BY (tenant_id, case_id, updated_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.cases ON CLUSTER 'phiwatch' AS phiwatch.cases_local ENGINE = Distributed('phiwatch', phiwatch, cases_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.cases_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.cases_local
ORDER BY tenant_id, case_id, updated_at DESC
LIMIT 1 BY tenant_id, case_id;

CREATE TABLE IF NOT EXISTS phiwatch.cases_current ON CLUSTER 'phiwatch' AS phiwatch.cases_current_local ENGINE = Distributed('phiwatch', phiwatch, cases_current_local, cityHash64(tenant_id));

