-- Access control (README "Authentication", docs/security.md): API tokens for
-- machines, role grants for people, and the named tenant groups an
-- msp_admin may be scoped to. tenant_id is the scope that owns a row: the
-- one tenant a token or grant is limited to, or '*' for MSP-level rows
-- (several tenants, all tenants or a group), which only an msp_admin
-- manages. Rows are append-only versions: a revocation or change is a new
-- row with who, when and why; <table>_current holds the latest version.

-- A token is stored as the SHA-256 of its secret only; the secret is shown
-- once, when the token is created.
CREATE TABLE IF NOT EXISTS ${DB}.api_tokens
(
    tenant_id     LowCardinality(String),
    token_id      String,
    name          String,
    role          LowCardinality(String),
    all_tenants   Bool,
    tenants       Array(String),
    tenant_group  String,
    token_sha256  String,
    created_by    String,
    created_at    DateTime64(3, 'UTC'),
    expires_at    DateTime64(3, 'UTC'),
    revoked       Bool,
    changed_by    String,
    reason        String,
    version_at    DateTime64(3, 'UTC'),
    retain_until  Date
)
ENGINE = ReplacingMergeTree(version_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, token_id, version_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.api_tokens_current AS
SELECT *
FROM ${DB}.api_tokens
ORDER BY tenant_id, token_id, version_at DESC
LIMIT 1 BY tenant_id, token_id;

-- A grant binds one person (an OIDC subject, or a verified email) to one
-- role over a tenant scope. A person holds at most one active grant.
CREATE TABLE IF NOT EXISTS ${DB}.access_grants
(
    tenant_id     LowCardinality(String),
    principal     String,
    display_name  String,
    role          LowCardinality(String),
    all_tenants   Bool,
    tenants       Array(String),
    tenant_group  String,
    workforce_ids Map(String, String),
    created_at    DateTime64(3, 'UTC'),
    revoked       Bool,
    changed_by    String,
    reason        String,
    version_at    DateTime64(3, 'UTC'),
    retain_until  Date
)
ENGINE = ReplacingMergeTree(version_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, principal, version_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.access_grants_current AS
SELECT *
FROM ${DB}.access_grants
ORDER BY tenant_id, principal, version_at DESC
LIMIT 1 BY tenant_id, principal;

-- A named group of tenants (e.g. the practices one MSP technician looks
-- after). Always MSP-level: tenant_id is '*'.
CREATE TABLE IF NOT EXISTS ${DB}.tenant_groups
(
    tenant_id     LowCardinality(String),
    group_name    String,
    tenants       Array(String),
    created_at    DateTime64(3, 'UTC'),
    deleted       Bool,
    changed_by    String,
    reason        String,
    version_at    DateTime64(3, 'UTC'),
    retain_until  Date
)
ENGINE = ReplacingMergeTree(version_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, group_name, version_at)
TTL retain_until;

CREATE VIEW IF NOT EXISTS ${DB}.tenant_groups_current AS
SELECT *
FROM ${DB}.tenant_groups
ORDER BY tenant_id, group_name, version_at DESC
LIMIT 1 BY tenant_id, group_name;
