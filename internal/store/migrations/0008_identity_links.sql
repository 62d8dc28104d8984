-- Identity links (docs/identity.md): which workforce member each account
-- name belongs to, so detectors join events to people in SQL:
--   ... JOIN identity_links_current AS l ON l.tenant_id = e.tenant_id
--       AND l.account_key = lowerUTF8(e.actor_id) WHERE l.user_id != ''
-- Every reference import rebuilds a tenant's links from its current roster,
-- account inventories and practitioners, plus the actor ids seen in its
-- events, and appends them as one build stamped with built_at. A key that
-- could belong to several people is kept with user_id '' and its candidates
-- (method 'ambiguous'): it is reported, never guessed.
CREATE TABLE IF NOT EXISTS ${DB}.identity_links
(
    tenant_id    LowCardinality(String),
    account_key  String,
    user_id      String,
    method       LowCardinality(String),
    confidence   Float32,
    evidence     String,
    candidates   Array(String),
    origin       LowCardinality(String),
    built_at     DateTime64(3, 'UTC'),
    retain_until Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(built_at)
ORDER BY (tenant_id, built_at, account_key)
TTL retain_until;

-- The latest build of each tenant, whole: a key dropped from the roster must
-- disappear, which a per-key argMax would not do.
CREATE OR REPLACE VIEW ${DB}.identity_links_current AS
SELECT *
FROM ${DB}.identity_links
WHERE (tenant_id, built_at) IN (
    SELECT tenant_id, max(built_at) FROM ${DB}.identity_links GROUP BY tenant_id
);
