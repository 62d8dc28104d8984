-- phiwatch's own audit trail (docs/security.md): every request to a tenant
-- route, every reveal of a patient, every read of raw access events, every
-- export, login, token and grant change. Append-only: rows are only ever
-- inserted (plain MergeTree, no version column, nothing collapses), never
-- updated or deleted; they expire 7 years after they were written (HIPAA
-- keeps documentation 6). tenant_id is '' for actions outside a tenant
-- (login, global token administration). client_ip is the peer address;
-- forwarded_for is the X-Forwarded-For header as sent, kept apart because
-- a client can write anything in it.
CREATE TABLE IF NOT EXISTS ${DB}.audit_log
(
    tenant_id     LowCardinality(String),
    time          DateTime64(3, 'UTC'),
    entry_id      String,
    subject       String,
    actor_name    String,
    role          LowCardinality(String),
    via           LowCardinality(String),
    action        LowCardinality(String),
    target        String,
    reason        String,
    method        LowCardinality(String),
    route         LowCardinality(String),
    path          String,
    status        UInt16,
    client_ip     String,
    forwarded_for String,
    user_agent    String,
    request_id    String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, time, entry_id)
TTL toDate(time) + INTERVAL 7 YEAR;
