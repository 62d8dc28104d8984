CREATE TABLE IF NOT EXISTS phiwatch.alerts_local ON CLUSTER 'phiwatch'
(
    tenant_id          LowCardinality(String),
    alert_id           String,
    rule               LowCardinality(String),
    severity           LowCardinality(String),
    score              Float32,
    actor_id           String,
    actor_name         String,
    actor_role         LowCardinality(String),
    patient_ids        Array(String),
    first_seen         DateTime64(3, 'UTC'),
    last_seen          DateTime64(3, 'UTC'),
    reason             String,
    evidence_event_ids Array(String),
    evidence_count     UInt32,
    explanations       Array(String),
    detector_version   LowCardinality(String),
    detected_at        DateTime64(3, 'UTC'),
    retain_until       Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', detected_at)
PARTITION BY toYYYYMM(first_seen)
ORDER BY (tenant_id, rule, alert_id)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.alerts ON CLUSTER 'phiwatch' AS phiwatch.alerts_local ENGINE = Distributed('phiwatch', phiwatch, alerts_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.alerts_current_local ON CLUSTER 'phiwatch' AS
SELECT * FROM phiwatch.alerts_local FINAL;

CREATE TABLE IF NOT EXISTS phiwatch.alerts_current ON CLUSTER 'phiwatch' AS phiwatch.alerts_current_local ENGINE = Distributed('phiwatch', phiwatch, alerts_current_local, cityHash64(tenant_id));

