CREATE TABLE IF NOT EXISTS phiwatch.accounts_local ON CLUSTER 'phiwatch'
(
    tenant_id     LowCardinality(String),
    system        LowCardinality(String),
    account_id    String,
    display_name  String,
    email         String,
    enabled       Bool,
    created       Nullable(DateTime64(3, 'UTC')),
    last_login    Nullable(DateTime64(3, 'UTC')),
    roles         Array(String),
    groups        Array(String),
    privileged    Bool,
    owner_user_id String,
    imported_at   DateTime64(3, 'UTC'),
    imported_by   String,
    source        String,
    retain_until  Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, system, account_id, imported_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.accounts ON CLUSTER 'phiwatch' AS phiwatch.accounts_local ENGINE = Distributed('phiwatch', phiwatch, accounts_local, cityHash64(tenant_id));

CREATE OR REPLACE VIEW phiwatch.accounts_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.accounts_local
WHERE (tenant_id, system, imported_at) IN (
    SELECT tenant_id, system, max(imported_at) FROM phiwatch.accounts_local GROUP BY tenant_id, system
);

CREATE OR REPLACE TABLE phiwatch.accounts_current ON CLUSTER 'phiwatch' AS phiwatch.accounts_current_local ENGINE = Distributed('phiwatch', phiwatch, accounts_current_local, cityHash64(tenant_id));

