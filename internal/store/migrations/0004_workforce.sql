-- The workforce roster of each practice, as imported (CSV, documented in
-- docs/roster.md). Append-only: every import adds a version of each person;
-- the current roster is the latest version per user (workforce_current).
CREATE TABLE IF NOT EXISTS ${DB}.workforce
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
ENGINE = MergeTree
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, user_id, imported_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.workforce_current AS
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
FROM ${DB}.workforce
GROUP BY tenant_id, user_id;
