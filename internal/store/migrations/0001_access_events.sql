-- Normalized access events, one row per event (see docs/event-model.md).
-- ReplacingMergeTree collapses redelivered events with the same sorting key
-- (the event_id is a stable hash of the source record) at merges; readers use
-- the `events` view, which reads FINAL, so a duplicate is never seen even
-- before a merge. The deduplication window additionally drops a retried
-- insert of the very same batch (same insert_deduplication_token) at once.
CREATE TABLE IF NOT EXISTS ${DB}.access_events
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
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, source_kind, time, event_id)
TTL retain_until
SETTINGS non_replicated_deduplication_window = 1000;

-- What the product reads: every event once.
CREATE VIEW IF NOT EXISTS ${DB}.events AS
SELECT * FROM ${DB}.access_events FINAL;
