CREATE TABLE IF NOT EXISTS phiwatch.records_local ON CLUSTER 'phiwatch'
(
    tenant_id    LowCardinality(String),
    kind         LowCardinality(String),
    record_id    String,
    version      UInt32,
    body         String CODEC(ZSTD(3)),
    actor        String,
    reason       String,
    changed_at   DateTime64(3, 'UTC'),
    retain_until Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)
PARTITION BY toYYYYMM(changed_at)
ORDER BY (tenant_id, kind, record_id, version, changed_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.records ON CLUSTER 'phiwatch' AS phiwatch.records_local ENGINE = Distributed('phiwatch', phiwatch, records_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.records_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.records_local FINAL
ORDER BY tenant_id, kind, record_id, version DESC, changed_at DESC
LIMIT 1 BY tenant_id, kind, record_id;

CREATE TABLE IF NOT EXISTS phiwatch.records_current ON CLUSTER 'phiwatch' AS phiwatch.records_current_local ENGINE = Distributed('phiwatch', phiwatch, records_current_local, cityHash64(tenant_id));

