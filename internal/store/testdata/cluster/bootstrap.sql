CREATE DATABASE IF NOT EXISTS phiwatch ON CLUSTER 'phiwatch';

CREATE TABLE IF NOT EXISTS phiwatch.schema_migrations ON CLUSTER 'phiwatch' (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{database}/schema_migrations', '{shard}-{replica}') ORDER BY version;

