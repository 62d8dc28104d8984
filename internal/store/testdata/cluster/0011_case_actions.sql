CREATE TABLE IF NOT EXISTS phiwatch.case_actions_local ON CLUSTER 'phiwatch'
(
    tenant_id    LowCardinality(String),
    case_id      String,
    action       LowCardinality(String),
    actor        String,
    at           DateTime64(3, 'UTC'),
    assignee     String,
    resolution   LowCardinality(String),
    note         String,
    retain_until Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(at)
ORDER BY (tenant_id, case_id, at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.case_actions ON CLUSTER 'phiwatch' AS phiwatch.case_actions_local ENGINE = Distributed('phiwatch', phiwatch, case_actions_local, cityHash64(tenant_id));

