CREATE TABLE IF NOT EXISTS phiwatch.access_events_local ON CLUSTER 'phiwatch'
(
    tenant_id               LowCardinality(String),
    event_id                String,
    source_kind             LowCardinality(String),
    source_system           LowCardinality(String),
    source_name             LowCardinality(String),
    time                    DateTime64(3, 'UTC'),
    received_at             DateTime64(3, 'UTC'),
    actor_id                String,
    actor_name              String,
    actor_role              LowCardinality(String),
    actor_department        LowCardinality(String),
    action                  LowCardinality(String),
    outcome                 LowCardinality(String),
    patient_id              String,
    resource_type           LowCardinality(String),
    resource_id             String,
    client_ip               String,
    device                  String,
    purpose_of_use          LowCardinality(String),
    break_glass             Bool,
    email_sender            String,
    email_recipients        Array(String),
    email_recipient_domains Array(LowCardinality(String)),
    email_external          Bool,
    email_attachment_count  UInt32,
    email_size_bytes        UInt64,
    email_message_id        String,
    vpn_session_id          String,
    vpn_bytes_in            UInt64,
    vpn_bytes_out           UInt64,
    vpn_duration_s          UInt32,
    vpn_assigned_ip         String,
    vpn_group               LowCardinality(String),
    attrs                   Map(String, String),
    raw                     String CODEC(ZSTD(3)),
    retain_until            Date,
    INDEX idx_actor actor_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_patient patient_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, source_kind, time, event_id)
TTL retain_until
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS phiwatch.access_events ON CLUSTER 'phiwatch' AS phiwatch.access_events_local ENGINE = Distributed('phiwatch', phiwatch, access_events_local, cityHash64(tenant_id));

CREATE VIEW IF NOT EXISTS phiwatch.events_local ON CLUSTER 'phiwatch' AS
SELECT * FROM phiwatch.access_events_local FINAL;

CREATE TABLE IF NOT EXISTS phiwatch.events ON CLUSTER 'phiwatch' AS phiwatch.events_local ENGINE = Distributed('phiwatch', phiwatch, events_local, cityHash64(tenant_id));

