CREATE TABLE IF NOT EXISTS phiwatch.suppressions_local ON CLUSTER 'phiwatch'
(
    tenant_id      LowCardinality(String),
    suppression_id String,
    rule           LowCardinality(String),
    actor_id       String,
    patient_id     String,
    reason         String,
    created_by     String,
    created_at     DateTime64(3, 'UTC'),
    expires_at     DateTime64(3, 'UTC'),
    revoked        Bool,
    revoked_by     String,
    revoke_reason  String,
    version_at     DateTime64(3, 'UTC'),
    retain_until   Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, suppression_id, version_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.suppressions ON CLUSTER 'phiwatch' AS phiwatch.suppressions_local ENGINE = Distributed('phiwatch', phiwatch, suppressions_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.suppressions_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.suppressions_local
ORDER BY tenant_id, suppression_id, version_at DESC
LIMIT 1 BY tenant_id, suppression_id;

CREATE TABLE IF NOT EXISTS phiwatch.suppressions_current ON CLUSTER 'phiwatch' AS phiwatch.suppressions_current_local ENGINE = Distributed('phiwatch', phiwatch, suppressions_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.alert_suppressions_local ON CLUSTER 'phiwatch'
(
    tenant_id        LowCardinality(String),
    alert_id         String,
    suppression_id   String,
    rule             LowCardinality(String),
    actor_id         String,
    alert_first_seen DateTime64(3, 'UTC'),
    matched_at       DateTime64(3, 'UTC'),
    retain_until     Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', matched_at)
PARTITION BY toYYYYMM(alert_first_seen)
ORDER BY (tenant_id, alert_id, suppression_id)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.alert_suppressions ON CLUSTER 'phiwatch' AS phiwatch.alert_suppressions_local ENGINE = Distributed('phiwatch', phiwatch, alert_suppressions_local, cityHash64(tenant_id));

