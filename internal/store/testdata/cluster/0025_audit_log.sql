CREATE TABLE IF NOT EXISTS phiwatch.audit_log_local ON CLUSTER 'phiwatch'
(
    tenant_id     LowCardinality(String),
    time          DateTime64(3, 'UTC'),
    entry_id      String,
    subject       String,
    actor_name    String,
    role          LowCardinality(String),
    via           LowCardinality(String),
    action        LowCardinality(String),
    target        String,
    reason        String,
    method        LowCardinality(String),
    route         LowCardinality(String),
    path          String,
    status        UInt16,
    client_ip     String,
    forwarded_for String,
    user_agent    String,
    request_id    String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, time, entry_id)
TTL toDate(time) + INTERVAL 7 YEAR;

CREATE TABLE IF NOT EXISTS phiwatch.audit_log ON CLUSTER 'phiwatch' AS phiwatch.audit_log_local ENGINE = Distributed('phiwatch', phiwatch, audit_log_local, cityHash64(tenant_id));

