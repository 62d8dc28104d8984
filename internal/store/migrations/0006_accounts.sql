-- Account inventories: the accounts each system (EHR, Entra ID / Microsoft
-- 365, VPN, Google Workspace, …) says exist, as exported by the practice
-- (CSV, docs/reference-feeds.md). They feed identity resolution (an explicit
-- owner_user_id, or the account's email) and the quarterly recertification.
-- Append-only: every import is a snapshot of each system it names, stamped
-- with imported_at; nothing is updated or deleted.
CREATE TABLE IF NOT EXISTS ${DB}.accounts
(
    tenant_id     LowCardinality(String),
    system        LowCardinality(String),
    account_id    String,
    display_name  String,
    email         String,
    enabled       Bool,
    created       Nullable(DateTime64(3, 'UTC')),
    last_login    Nullable(DateTime64(3, 'UTC')),
    roles         Array(String),
    groups        Array(String),
    privileged    Bool,
    owner_user_id String,
    imported_at   DateTime64(3, 'UTC'),
    imported_by   String,
    source        String,
    retain_until  Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, system, account_id, imported_at)
TTL retain_until;

-- The current inventory: for each tenant and system, the accounts of its
-- latest snapshot. An account missing from the latest snapshot of its system
-- no longer exists there (per-account argMax would keep deleted accounts
-- alive for ever, and recertification would chase ghosts).
CREATE OR REPLACE VIEW ${DB}.accounts_current AS
SELECT *
FROM ${DB}.accounts
WHERE (tenant_id, system, imported_at) IN (
    SELECT tenant_id, system, max(imported_at) FROM ${DB}.accounts GROUP BY tenant_id, system
);
