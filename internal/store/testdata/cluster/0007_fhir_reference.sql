CREATE TABLE IF NOT EXISTS phiwatch.patients_local ON CLUSTER 'phiwatch'
(
    tenant_id             LowCardinality(String),
    patient_id            String,
    mrn                   String,
    identifiers           Array(String),
    name                  String,
    family_name           String,
    given_names           String,
    birth_date            Nullable(Date32),
    gender                LowCardinality(String),
    address_line          String,
    city                  String,
    state                 String,
    postal_code           String,
    country               String,
    phones                Array(String),
    emails                Array(String),
    deceased              Bool,
    deceased_at           Nullable(DateTime64(3, 'UTC')),
    active                Bool,
    restricted            Bool,
    security_labels       Array(String),
    general_practitioners Array(String),
    linked                Array(String),
    version_id            String,
    last_updated          Nullable(DateTime64(3, 'UTC')),
    imported_at           DateTime64(3, 'UTC'),
    imported_by           String,
    source                String,
    retain_until          Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, patient_id, imported_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.patients ON CLUSTER 'phiwatch' AS phiwatch.patients_local ENGINE = Distributed('phiwatch', phiwatch, patients_local, cityHash64(tenant_id));

CREATE OR REPLACE VIEW phiwatch.patients_current_local ON CLUSTER 'phiwatch' AS
SELECT tenant_id, patient_id,
       argMax(mrn, imported_at) AS mrn,
       argMax(identifiers, imported_at) AS identifiers,
       argMax(name, imported_at) AS name,
       argMax(family_name, imported_at) AS family_name,
       argMax(given_names, imported_at) AS given_names,
       argMax(tuple(birth_date), imported_at).1 AS birth_date,
       argMax(gender, imported_at) AS gender,
       argMax(address_line, imported_at) AS address_line,
       argMax(city, imported_at) AS city,
       argMax(state, imported_at) AS state,
       argMax(postal_code, imported_at) AS postal_code,
       argMax(country, imported_at) AS country,
       argMax(phones, imported_at) AS phones,
       argMax(emails, imported_at) AS emails,
       argMax(deceased, imported_at) AS deceased,
       argMax(tuple(deceased_at), imported_at).1 AS deceased_at,
       argMax(active, imported_at) AS active,
       argMax(restricted, imported_at) AS restricted,
       argMax(security_labels, imported_at) AS security_labels,
       argMax(general_practitioners, imported_at) AS general_practitioners,
       argMax(linked, imported_at) AS linked,
       argMax(version_id, imported_at) AS version_id,
       argMax(tuple(last_updated), imported_at).1 AS last_updated,
       max(imported_at) AS last_imported_at
FROM phiwatch.patients_local
GROUP BY tenant_id, patient_id;

CREATE OR REPLACE TABLE phiwatch.patients_current ON CLUSTER 'phiwatch' AS phiwatch.patients_current_local ENGINE = Distributed('phiwatch', phiwatch, patients_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.practitioners_local ON CLUSTER 'phiwatch'
(
    tenant_id       LowCardinality(String),
    practitioner_id String,
    identifiers     Array(String),
    npi             String,
    name            String,
    family_name     String,
    given_names     String,
    emails          Array(String),
    phones          Array(String),
    active          Bool,
    version_id      String,
    last_updated    Nullable(DateTime64(3, 'UTC')),
    imported_at     DateTime64(3, 'UTC'),
    imported_by     String,
    source          String,
    retain_until    Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, practitioner_id, imported_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.practitioners ON CLUSTER 'phiwatch' AS phiwatch.practitioners_local ENGINE = Distributed('phiwatch', phiwatch, practitioners_local, cityHash64(tenant_id));

CREATE OR REPLACE VIEW phiwatch.practitioners_current_local ON CLUSTER 'phiwatch' AS
SELECT tenant_id, practitioner_id,
       argMax(identifiers, imported_at) AS identifiers,
       argMax(npi, imported_at) AS npi,
       argMax(name, imported_at) AS name,
       argMax(family_name, imported_at) AS family_name,
       argMax(given_names, imported_at) AS given_names,
       argMax(emails, imported_at) AS emails,
       argMax(phones, imported_at) AS phones,
       argMax(active, imported_at) AS active,
       argMax(version_id, imported_at) AS version_id,
       argMax(tuple(last_updated), imported_at).1 AS last_updated,
       max(imported_at) AS last_imported_at
FROM phiwatch.practitioners_local
GROUP BY tenant_id, practitioner_id;

CREATE OR REPLACE TABLE phiwatch.practitioners_current ON CLUSTER 'phiwatch' AS phiwatch.practitioners_current_local ENGINE = Distributed('phiwatch', phiwatch, practitioners_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.practitioner_roles_local ON CLUSTER 'phiwatch'
(
    tenant_id       LowCardinality(String),
    role_id         String,
    practitioner_id String,
    organization_id String,
    codes           Array(String),
    specialties     Array(String),
    location_ids    Array(String),
    active          Bool,
    period_start    Nullable(DateTime64(3, 'UTC')),
    period_end      Nullable(DateTime64(3, 'UTC')),
    version_id      String,
    last_updated    Nullable(DateTime64(3, 'UTC')),
    imported_at     DateTime64(3, 'UTC'),
    imported_by     String,
    source          String,
    retain_until    Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, role_id, imported_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.practitioner_roles ON CLUSTER 'phiwatch' AS phiwatch.practitioner_roles_local ENGINE = Distributed('phiwatch', phiwatch, practitioner_roles_local, cityHash64(tenant_id));

CREATE OR REPLACE VIEW phiwatch.practitioner_roles_current_local ON CLUSTER 'phiwatch' AS
SELECT tenant_id, role_id,
       argMax(practitioner_id, imported_at) AS practitioner_id,
       argMax(organization_id, imported_at) AS organization_id,
       argMax(codes, imported_at) AS codes,
       argMax(specialties, imported_at) AS specialties,
       argMax(location_ids, imported_at) AS location_ids,
       argMax(active, imported_at) AS active,
       argMax(tuple(period_start), imported_at).1 AS period_start,
       argMax(tuple(period_end), imported_at).1 AS period_end,
       argMax(version_id, imported_at) AS version_id,
       argMax(tuple(last_updated), imported_at).1 AS last_updated,
       max(imported_at) AS last_imported_at
FROM phiwatch.practitioner_roles_local
GROUP BY tenant_id, role_id;

CREATE OR REPLACE TABLE phiwatch.practitioner_roles_current ON CLUSTER 'phiwatch' AS phiwatch.practitioner_roles_current_local ENGINE = Distributed('phiwatch', phiwatch, practitioner_roles_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.appointments_local ON CLUSTER 'phiwatch'
(
    tenant_id             LowCardinality(String),
    appointment_id        String,
    status                LowCardinality(String),
    start_time            Nullable(DateTime64(3, 'UTC')),
    end_time              Nullable(DateTime64(3, 'UTC')),
    patient_ids           Array(String),
    practitioner_ids      Array(String),
    practitioner_role_ids Array(String),
    location_ids          Array(String),
    service_types         Array(String),
    appointment_type      String,
    version_id            String,
    last_updated          Nullable(DateTime64(3, 'UTC')),
    imported_at           DateTime64(3, 'UTC'),
    imported_by           String,
    source                String,
    retain_until          Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, appointment_id, imported_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.appointments ON CLUSTER 'phiwatch' AS phiwatch.appointments_local ENGINE = Distributed('phiwatch', phiwatch, appointments_local, cityHash64(tenant_id));

CREATE OR REPLACE VIEW phiwatch.appointments_current_local ON CLUSTER 'phiwatch' AS
SELECT tenant_id, appointment_id,
       argMax(status, imported_at) AS status,
       argMax(tuple(start_time), imported_at).1 AS start_time,
       argMax(tuple(end_time), imported_at).1 AS end_time,
       argMax(patient_ids, imported_at) AS patient_ids,
       argMax(practitioner_ids, imported_at) AS practitioner_ids,
       argMax(practitioner_role_ids, imported_at) AS practitioner_role_ids,
       argMax(location_ids, imported_at) AS location_ids,
       argMax(service_types, imported_at) AS service_types,
       argMax(appointment_type, imported_at) AS appointment_type,
       argMax(version_id, imported_at) AS version_id,
       argMax(tuple(last_updated), imported_at).1 AS last_updated,
       max(imported_at) AS last_imported_at
FROM phiwatch.appointments_local
GROUP BY tenant_id, appointment_id;

CREATE OR REPLACE TABLE phiwatch.appointments_current ON CLUSTER 'phiwatch' AS phiwatch.appointments_current_local ENGINE = Distributed('phiwatch', phiwatch, appointments_current_local, cityHash64(tenant_id));

CREATE TABLE IF NOT EXISTS phiwatch.encounters_local ON CLUSTER 'phiwatch'
(
    tenant_id             LowCardinality(String),
    encounter_id          String,
    status                LowCardinality(String),
    class                 LowCardinality(String),
    types                 Array(String),
    period_start          Nullable(DateTime64(3, 'UTC')),
    period_end            Nullable(DateTime64(3, 'UTC')),
    patient_id            String,
    practitioner_ids      Array(String),
    practitioner_role_ids Array(String),
    location_ids          Array(String),
    appointment_ids       Array(String),
    service_provider      String,
    version_id            String,
    last_updated          Nullable(DateTime64(3, 'UTC')),
    imported_at           DateTime64(3, 'UTC'),
    imported_by           String,
    source                String,
    retain_until          Date
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(imported_at)
ORDER BY (tenant_id, encounter_id, imported_at)
TTL retain_until;

CREATE TABLE IF NOT EXISTS phiwatch.encounters ON CLUSTER 'phiwatch' AS phiwatch.encounters_local ENGINE = Distributed('phiwatch', phiwatch, encounters_local, cityHash64(tenant_id));

CREATE OR REPLACE VIEW phiwatch.encounters_current_local ON CLUSTER 'phiwatch' AS
SELECT tenant_id, encounter_id,
       argMax(status, imported_at) AS status,
       argMax(class, imported_at) AS class,
       argMax(types, imported_at) AS types,
       argMax(tuple(period_start), imported_at).1 AS period_start,
       argMax(tuple(period_end), imported_at).1 AS period_end,
       argMax(patient_id, imported_at) AS patient_id,
       argMax(practitioner_ids, imported_at) AS practitioner_ids,
       argMax(practitioner_role_ids, imported_at) AS practitioner_role_ids,
       argMax(location_ids, imported_at) AS location_ids,
       argMax(appointment_ids, imported_at) AS appointment_ids,
       argMax(service_provider, imported_at) AS service_provider,
       argMax(version_id, imported_at) AS version_id,
       argMax(tuple(last_updated), imported_at).1 AS last_updated,
       max(imported_at) AS last_imported_at
FROM phiwatch.encounters_local
GROUP BY tenant_id, encounter_id;

CREATE OR REPLACE TABLE phiwatch.encounters_current ON CLUSTER 'phiwatch' AS phiwatch.encounters_current_local ENGINE = Distributed('phiwatch', phiwatch, encounters_current_local, cityHash64(tenant_id));

