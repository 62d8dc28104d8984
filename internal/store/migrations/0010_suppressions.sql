-- Suppressions (docs/cases.md): a privacy officer's decision that alerts of
-- a rule ('' = every rule) for an actor ('' = anyone) and a patient
-- ('' = anyone) are expected, with a required reason and expiry (at most a
-- year). Append-only versions: a revocation is a new row with revoked = 1;
-- suppressions_current holds the latest version of each.
CREATE TABLE IF NOT EXISTS ${DB}.suppressions
(
    tenant_id      LowCardinality(String),
    suppression_id String,
    rule           LowCardinality(String),
    actor_id       String,
    patient_id     String,
    reason         String,
    created_by     String,
    created_at     DateTime64(3, 'UTC'),
    expires_at     DateTime64(3, 'UTC'),
    revoked        Bool,
    revoked_by     String,
    revoke_reason  String,
    version_at     DateTime64(3, 'UTC'),
    retain_until   Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, suppression_id, version_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.suppressions_current AS
SELECT *
FROM ${DB}.suppressions
ORDER BY tenant_id, suppression_id, version_at DESC
LIMIT 1 BY tenant_id, suppression_id;

-- Which suppression matched which alert. Alerts stay in alerts, unchanged:
-- a suppressed alert is still stored and listed with its suppression, and
-- this table is the record that (and why) it left the worklist. A re-run
-- that matches again rewrites the same (alert, suppression) row.
CREATE TABLE IF NOT EXISTS ${DB}.alert_suppressions
(
    tenant_id        LowCardinality(String),
    alert_id         String,
    suppression_id   String,
    rule             LowCardinality(String),
    actor_id         String,
    alert_first_seen DateTime64(3, 'UTC'),
    matched_at       DateTime64(3, 'UTC'),
    retain_until     Date
)
ENGINE = ReplacingMergeTree(matched_at)
PARTITION BY toYYYYMM(alert_first_seen)
ORDER BY (tenant_id, alert_id, suppression_id)
TTL retain_until;
