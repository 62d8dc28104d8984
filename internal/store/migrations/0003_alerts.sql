-- Alerts written by the detectors. alert_id is a stable hash of the rule and
-- what the alert is about (actor, day, …), so re-running a detector over the
-- same window rewrites the same alert instead of adding another; readers use
-- FINAL (or the alerts_current view) and see the latest version.
CREATE TABLE IF NOT EXISTS ${DB}.alerts
(
    tenant_id          LowCardinality(String),
    alert_id           String,
    rule               LowCardinality(String),
    severity           LowCardinality(String),
    score              Float32,
    actor_id           String,
    actor_name         String,
    actor_role         LowCardinality(String),
    patient_ids        Array(String),
    first_seen         DateTime64(3, 'UTC'),
    last_seen          DateTime64(3, 'UTC'),
    reason             String,
    evidence_event_ids Array(String),
    evidence_count     UInt32,
    explanations       Array(String),
    detector_version   LowCardinality(String),
    detected_at        DateTime64(3, 'UTC'),
    retain_until       Date
)
ENGINE = ReplacingMergeTree(detected_at)
PARTITION BY toYYYYMM(first_seen)
ORDER BY (tenant_id, rule, alert_id)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.alerts_current AS
SELECT * FROM ${DB}.alerts FINAL;
