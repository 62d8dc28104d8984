ALTER TABLE phiwatch.workforce_local ON CLUSTER 'phiwatch' ADD COLUMN IF NOT EXISTS employee_id      String,
    ADD COLUMN IF NOT EXISTS first_name       String,
    ADD COLUMN IF NOT EXISTS last_name        String,
    ADD COLUMN IF NOT EXISTS job_title        String,
    ADD COLUMN IF NOT EXISTS npi              String,
    ADD COLUMN IF NOT EXISTS ehr_username     String,
    ADD COLUMN IF NOT EXISTS m365_upn         String,
    ADD COLUMN IF NOT EXISTS vpn_username     String,
    ADD COLUMN IF NOT EXISTS google_email     String,
    ADD COLUMN IF NOT EXISTS phone            String,
    ADD COLUMN IF NOT EXISTS home_street      String,
    ADD COLUMN IF NOT EXISTS home_city        String,
    ADD COLUMN IF NOT EXISTS home_postal_code String,
    ADD COLUMN IF NOT EXISTS birth_date       Nullable(Date32);

ALTER TABLE phiwatch.workforce ON CLUSTER 'phiwatch'
    ADD COLUMN IF NOT EXISTS employee_id      String,
    ADD COLUMN IF NOT EXISTS first_name       String,
    ADD COLUMN IF NOT EXISTS last_name        String,
    ADD COLUMN IF NOT EXISTS job_title        String,
    ADD COLUMN IF NOT EXISTS npi              String,
    ADD COLUMN IF NOT EXISTS ehr_username     String,
    ADD COLUMN IF NOT EXISTS m365_upn         String,
    ADD COLUMN IF NOT EXISTS vpn_username     String,
    ADD COLUMN IF NOT EXISTS google_email     String,
    ADD COLUMN IF NOT EXISTS phone            String,
    ADD COLUMN IF NOT EXISTS home_street      String,
    ADD COLUMN IF NOT EXISTS home_city        String,
    ADD COLUMN IF NOT EXISTS home_postal_code String,
    ADD COLUMN IF NOT EXISTS birth_date       Nullable(Date32);

CREATE OR REPLACE VIEW phiwatch.workforce_current_local ON CLUSTER 'phiwatch' AS
SELECT tenant_id, user_id,
       argMax(name, imported_at) AS name,
       argMax(role, imported_at) AS role,
       argMax(department, imported_at) AS department,
       argMax(manager_id, imported_at) AS manager_id,
       argMax(email, imported_at) AS email,
       argMax(aliases, imported_at) AS aliases,
       argMax(tuple(hire_date), imported_at).1 AS hire_date,
       argMax(tuple(termination_date), imported_at).1 AS termination_date,
       argMax(employee_id, imported_at) AS employee_id,
       argMax(first_name, imported_at) AS first_name,
       argMax(last_name, imported_at) AS last_name,
       argMax(job_title, imported_at) AS job_title,
       argMax(npi, imported_at) AS npi,
       argMax(ehr_username, imported_at) AS ehr_username,
       argMax(m365_upn, imported_at) AS m365_upn,
       argMax(vpn_username, imported_at) AS vpn_username,
       argMax(google_email, imported_at) AS google_email,
       argMax(phone, imported_at) AS phone,
       argMax(home_street, imported_at) AS home_street,
       argMax(home_city, imported_at) AS home_city,
       argMax(home_postal_code, imported_at) AS home_postal_code,
       argMax(tuple(birth_date), imported_at).1 AS birth_date,
       max(imported_at) AS last_imported_at
FROM phiwatch.workforce_local
GROUP BY tenant_id, user_id;

CREATE OR REPLACE TABLE phiwatch.workforce_current ON CLUSTER 'phiwatch' AS phiwatch.workforce_current_local ENGINE = Distributed('phiwatch', phiwatch, workforce_current_local, cityHash64(tenant_id));

