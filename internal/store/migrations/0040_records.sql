-- Compliance records (docs/records.md): risk analysis, policies and their
-- acknowledgements, training, business associates, incidents and breaches,
-- patient-rights requests, disclosures, the audit calendar, findings and
-- sanctions. One table for every kind: the body is the kind's JSON document,
-- validated by its Go type (internal/records) before it is written.
-- Append-only: every change is a new row with the next version, who made it,
-- when and why; nothing is updated or deleted in place, so the versions are
-- the evidence. HIPAA keeps documentation 6 years from its last effective
-- date (164.316(b)(2)); retain_until is set to at least that, 7 years by
-- default, on every version.
CREATE TABLE IF NOT EXISTS ${DB}.records
(
    tenant_id    LowCardinality(String),
    kind         LowCardinality(String),
    record_id    String,
    version      UInt32,
    body         String CODEC(ZSTD(3)),
    actor        String,
    reason       String,
    changed_at   DateTime64(3, 'UTC'),
    retain_until Date
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(changed_at)
ORDER BY (tenant_id, kind, record_id, version, changed_at)
TTL retain_until;

-- The latest version of each record. The sorting key ends with changed_at,
-- so ReplacingMergeTree only collapses a retried insert of the very same
-- row; two writers that raced to the same version number are both kept
-- (and both shown in the history), and this view picks the later one.
CREATE VIEW IF NOT EXISTS ${DB}.records_current AS
SELECT *
FROM ${DB}.records FINAL
ORDER BY tenant_id, kind, record_id, version DESC, changed_at DESC
LIMIT 1 BY tenant_id, kind, record_id;
