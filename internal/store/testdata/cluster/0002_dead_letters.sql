CREATE TABLE IF NOT EXISTS phiwatch.dead_letters_local ON CLUSTER 'phiwatch'
(
    tenant_id    LowCardinality(String),
    received_at  DateTime64(3, 'UTC'),
    key_hash     String,
    stage        LowCardinality(String),
    format       LowCardinality(String),
    origin       String,
    reason       String,
    raw          String CODEC(ZSTD(3)),
    raw_base64   Bool,
    retain_until Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (tenant_id, received_at, key_hash)
TTL retain_until
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS phiwatch.dead_letters ON CLUSTER 'phiwatch' AS phiwatch.dead_letters_local ENGINE = Distributed('phiwatch', phiwatch, dead_letters_local, cityHash64(tenant_id));

