-- What reviewers did with a case (docs/cases.md): assigned it, commented on
-- it, closed it with a resolution and a reason, reopened it. Append-only:
-- one row per action, with who did it and when; a closed case also gets a
-- new version in cases (status 'closed'), so the detectors stop feeding it.
-- The current assignee is the latest 'assign' row of the case.
CREATE TABLE IF NOT EXISTS ${DB}.case_actions
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
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant_id, case_id, at)
TTL retain_until;
