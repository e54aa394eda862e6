-- One row per delivered application with the rules of SEEDS.md applied:
-- date_of_birth in YYYY-MM-DD, YYYY/MM/DD, DD/MM/YYYY or DD-MM-YYYY (a real
-- date) written YYYYMMDD; above_18 = born before 2004-01-01; mobile_no 8
-- digits once spaces are removed; email local@domain.com|.net; reasons in a
-- fixed order; membership_id = last_name_ + 5 hex digits of SHA-256(YYYYMMDD).
-- primary key: source_file, row
WITH base AS (
    SELECT a._file AS source_file, a._row AS row, n.first_name, n.last_name,
           trim(a.email, ' ' || char(9)) AS email,
           trim(a.date_of_birth, ' ' || char(9)) AS dob,
           replace(a.mobile_no, ' ', '') AS mobile_no
    FROM applications_raw AS a
    LEFT JOIN application_names AS n ON n.source_file = a._file AND n.row = a._row
),
parts AS (
    SELECT *,
           CASE WHEN length(dob) = 10 AND substr(dob, 5, 1) IN ('-', '/')
                     AND substr(dob, 8, 1) = substr(dob, 5, 1)
                THEN substr(dob, 1, 4) || substr(dob, 6, 2) || substr(dob, 9, 2)
                WHEN length(dob) = 10 AND substr(dob, 3, 1) IN ('-', '/')
                     AND substr(dob, 6, 1) = substr(dob, 3, 1)
                THEN substr(dob, 7, 4) || substr(dob, 4, 2) || substr(dob, 1, 2)
           END AS ymd
    FROM base
),
checked AS (
    SELECT *,
           CASE WHEN ymd GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'
                     -- '+0 days' normalizes 1990-02-30 to 1990-03-02: a real date is unchanged
                     AND date(substr(ymd, 1, 4) || '-' || substr(ymd, 5, 2) || '-' || substr(ymd, 7, 2),
                              '+0 days')
                         = substr(ymd, 1, 4) || '-' || substr(ymd, 5, 2) || '-' || substr(ymd, 7, 2)
                THEN ymd END AS dob_ok,
           mobile_no IS NOT NULL AND length(mobile_no) = 8
               AND mobile_no GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' AS mobile_ok,
           email IS NOT NULL
               AND instr(email, '@') > 1
               AND instr(substr(email, instr(email, '@') + 1), '@') = 0
               AND email NOT GLOB ('*[' || char(32, 9, 10, 13, 11, 12) || ']*')
               AND length(substr(email, instr(email, '@') + 1)) >= 5
               AND (email GLOB '*?@*?.com' OR email GLOB '*?@*?.net') AS email_ok
    FROM parts
),
ruled AS (
    SELECT *,
           CASE WHEN dob_ok IS NULL THEN NULL WHEN dob_ok < '20040101' THEN 1 ELSE 0 END
               AS above_18,
           rtrim(CASE WHEN last_name IS NULL THEN 'no_name;' ELSE '' END
                 || CASE WHEN dob_ok IS NULL THEN 'bad_date_of_birth;' ELSE '' END
                 || CASE WHEN dob_ok >= '20040101' THEN 'under_18;' ELSE '' END
                 || CASE WHEN NOT mobile_ok THEN 'bad_mobile_no;' ELSE '' END
                 || CASE WHEN NOT email_ok THEN 'bad_email;' ELSE '' END, ';') AS reasons
    FROM checked
)
SELECT source_file,
       row,
       first_name,
       last_name,
       email,
       coalesce(dob_ok, dob) AS date_of_birth,
       mobile_no,
       above_18,
       reasons = '' AS successful,
       nullif(reasons, '') AS reason,
       CASE WHEN reasons = '' THEN last_name || '_' || substr(sha256(dob_ok), 1, 5) END
           AS membership_id
FROM ruled
ORDER BY source_file, row
