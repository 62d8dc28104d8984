CREATE TABLE IF NOT EXISTS phiwatch.api_tokens_local ON CLUSTER 'phiwatch'
(
    tenant_id     LowCardinality(String),
    token_id      String,
    name          String,
    role          LowCardinality(String),
    all_tenants   Bool,
    tenants       Array(String),
    tenant_group  String,
    token_sha256  String,
    created_by    String,
    created_at    DateTime64(3, 'UTC'),
    expires_at    DateTime64(3, 'UTC'),
    revoked       Bool,
    changed_by    String,
    reason        String,
    version_at    DateTime64(3, 'UTC'),
    retain_until  Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, token_id, version_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.api_tokens ON CLUSTER 'phiwatch' AS phiwatch.api_tokens_local ENGINE = Distributed('phiwatch', phiwatch, api_tokens_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.api_tokens_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.api_tokens_local
ORDER BY tenant_id, token_id, version_at DESC
LIMIT 1 BY tenant_id, token_id;

CREATE TABLE IF NOT EXISTS phiwatch.api_tokens_current ON CLUSTER 'phiwatch' AS phiwatch.api_tokens_current_local ENGINE = Distributed('phiwatch', phiwatch, api_tokens_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.access_grants_local ON CLUSTER 'phiwatch'
(
    tenant_id     LowCardinality(String),
    principal     String,
    display_name  String,
    role          LowCardinality(String),
    all_tenants   Bool,
    tenants       Array(String),
    tenant_group  String,
    workforce_ids Map(String, String),
    created_at    DateTime64(3, 'UTC'),
    revoked       Bool,
    changed_by    String,
    reason        String,
    version_at    DateTime64(3, 'UTC'),
    retain_until  Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, principal, version_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.access_grants ON CLUSTER 'phiwatch' AS phiwatch.access_grants_local ENGINE = Distributed('phiwatch', phiwatch, access_grants_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.access_grants_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.access_grants_local
ORDER BY tenant_id, principal, version_at DESC
LIMIT 1 BY tenant_id, principal;

CREATE TABLE IF NOT EXISTS phiwatch.access_grants_current ON CLUSTER 'phiwatch' AS phiwatch.access_grants_current_local ENGINE = Distributed('phiwatch', phiwatch, access_grants_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.tenant_groups_local ON CLUSTER 'phiwatch'
(
    tenant_id     LowCardinality(String),
    group_name    String,
    tenants       Array(String),
    created_at    DateTime64(3, 'UTC'),
    deleted       Bool,
    changed_by    String,
    reason        String,
    version_at    DateTime64(3, 'UTC'),
    retain_until  Date
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, group_name, version_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.tenant_groups ON CLUSTER 'phiwatch' AS phiwatch.tenant_groups_local ENGINE = Distributed('phiwatch', phiwatch, tenant_groups_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.tenant_groups_current_local ON CLUSTER 'phiwatch' AS
SELECT *
FROM phiwatch.tenant_groups_local
ORDER BY tenant_id, group_name, version_at DESC
LIMIT 1 BY tenant_id, group_name;

CREATE TABLE IF NOT EXISTS phiwatch.tenant_groups_current ON CLUSTER 'phiwatch' AS phiwatch.tenant_groups_current_local ENGINE = Distributed('phiwatch', phiwatch, tenant_groups_current_local, cityHash64(tenant_id));

