CREATE TABLE IF NOT EXISTS phiwatch.identity_links_local ON CLUSTER 'phiwatch'
(
    tenant_id    LowCardinality(String),
    account_key  String,
    user_id      String,
    method       LowCardinality(String),
    confidence   Float32,
    evidence     String,
    candidates   Array(String),
    origin       LowCardinality(String),
    built_at     DateTime64(3, 'UTC'),
    retain_until Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(built_at)
ORDER BY (tenant_id, built_at, account_key)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.identity_links ON CLUSTER 'phiwatch' AS phiwatch.identity_links_local ENGINE = Distributed('phiwatch', phiwatch, identity_links_local, cityHash64(tenant_id));

CREATE OR REPLACE VIEW phiwatch.identity_links_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.identity_links_local
WHERE (tenant_id, built_at) IN (
    SELECT tenant_id, max(built_at) FROM phiwatch.identity_links_local GROUP BY tenant_id
);

CREATE OR REPLACE TABLE phiwatch.identity_links_current ON CLUSTER 'phiwatch' AS phiwatch.identity_links_current_local ENGINE = Distributed('phiwatch', phiwatch, identity_links_current_local, cityHash64(tenant_id));

