CREATE TABLE IF NOT EXISTS phiwatch.workforce_local ON CLUSTER 'phiwatch'
(
    tenant_id        LowCardinality(String),
    user_id          String,
    name             String,
    role             LowCardinality(String),
    department       LowCardinality(String),
    manager_id       String,
    email            String,
    aliases          Array(String),
    hire_date        Nullable(Date),
    termination_date Nullable(Date),
    imported_at      DateTime64(3, 'UTC'),
    imported_by      String,
    source           String,
    retain_until     Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, user_id, imported_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.workforce ON CLUSTER 'phiwatch' AS phiwatch.workforce_local ENGINE = Distributed('phiwatch', phiwatch, workforce_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.workforce_current_local ON CLUSTER 'phiwatch' AS
SELECT tenant_id, user_id,
       argMax(name, imported_at) AS name,
       argMax(role, imported_at) AS role,
       argMax(department, imported_at) AS department,
       argMax(manager_id, imported_at) AS manager_id,
       argMax(email, imported_at) AS email,
       argMax(aliases, imported_at) AS aliases,
       argMax(hire_date, imported_at) AS hire_date,
       argMax(termination_date, imported_at) AS termination_date,
       max(imported_at) AS last_imported_at
FROM phiwatch.workforce_local
GROUP BY tenant_id, user_id;

CREATE TABLE IF NOT EXISTS phiwatch.workforce_current ON CLUSTER 'phiwatch' AS phiwatch.workforce_current_local ENGINE = Distributed('phiwatch', phiwatch, workforce_current_local, cityHash64(tenant_id));

