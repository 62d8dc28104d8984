-- Records phiwatch could not accept, with the reason; kept so an operator can
-- fix the source or the parser and replay them. tenant_id is empty when the
-- record was too broken to tell.
CREATE TABLE IF NOT EXISTS ${DB}.dead_letters
(
    tenant_id    LowCardinality(String),
    received_at  DateTime64(3, 'UTC'),
    key_hash     String,
    stage        LowCardinality(String),
    format       LowCardinality(String),
    origin       String,
    reason       String,
    raw          String CODEC(ZSTD(3)),
    raw_base64   Bool,
    retain_until Date
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (tenant_id, received_at, key_hash)
TTL retain_until
SETTINGS non_replicated_deduplication_window = 1000;
