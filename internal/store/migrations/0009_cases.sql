-- Cases (docs/cases.md): a tenant's alerts grouped per actor, so a person
-- who raises many small alerts is reviewed once, with a combined risk.
-- case_id is a stable hash of tenant, actor and the first alert of the open
-- period, so a re-run of the detectors updates the same case. Rows are
-- append-only versions (a new row only when the case changed); the current
-- state is the latest version, in cases_current. Nothing is merged away:
-- the versions are the history of how a case grew.
CREATE TABLE IF NOT EXISTS ${DB}.cases
(
    tenant_id          LowCardinality(String),
    case_id            String,
    actor_id           String,
    actor_name         String,
    actor_role         LowCardinality(String),
    status             LowCardinality(String),
    alert_ids          Array(String),
    rules              Array(String),
    first_seen         DateTime64(3, 'UTC'),
    last_seen          DateTime64(3, 'UTC'),
    alert_count        UInt32,
    distinct_patients  UInt32,
    actor_patient_days UInt32,
    active_days        UInt32,
    risk_score         Float32,
    max_severity       LowCardinality(String),
    summary            String,
    updated_at         DateTime64(3, 'UTC'),
    updated_by         String,
    retain_until       Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(first_seen)
ORDER BY (tenant_id, case_id, updated_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.cases_current AS
SELECT *
FROM ${DB}.cases
ORDER BY tenant_id, case_id, updated_at DESC
LIMIT 1 BY tenant_id, case_id;
