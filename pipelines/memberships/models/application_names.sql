-- The words of each applicant's name: tabs become spaces, runs of spaces
-- one, then split at spaces. A leading salutation (only the first word) and
-- trailing suffixes (every suffix after the last other word) are dropped;
-- what remains gives first_name (first word) and last_name (last word).
-- primary key: source_file, row
WITH RECURSIVE norm AS (
    SELECT _file AS source_file, _row AS row,
           replace(replace(replace(replace(replace(replace(replace(
               trim(replace(coalesce(name, ''), char(9), ' ')),
               '  ', ' '), '  ', ' '), '  ', ' '), '  ', ' '), '  ', ' '), '  ', ' '), '  ', ' ')
               AS n
    FROM applications_raw
),
words(source_file, row, pos, word, rest) AS (
    SELECT source_file, row, 0, NULL, n || ' ' FROM norm WHERE n <> ''
    UNION ALL
    SELECT source_file, row, pos + 1, substr(rest, 1, instr(rest, ' ') - 1),
           substr(rest, instr(rest, ' ') + 1)
    FROM words WHERE rest <> ''
),
w AS (
    SELECT source_file, row, pos, word,
           word IN ('Jr.', 'Sr.', 'II', 'III', 'PhD', 'MD', 'DDS', 'DVM') AS is_suffix,
           pos = 1 AND word IN ('Mr.', 'Mrs.', 'Ms.', 'Miss', 'Dr.') AS is_salutation
    FROM words WHERE pos > 0
),
last_other AS (
    SELECT source_file, row, max(CASE WHEN is_suffix THEN 0 ELSE pos END) AS p FROM w
    GROUP BY source_file, row
),
kept AS (
    SELECT w.source_file, w.row, w.pos, w.word
    FROM w JOIN last_other AS l ON l.source_file = w.source_file AND l.row = w.row
    WHERE NOT w.is_salutation AND w.pos <= l.p
)
SELECT source_file, row,
       (SELECT word FROM kept AS k WHERE k.source_file = g.source_file AND k.row = g.row
        ORDER BY pos LIMIT 1) AS first_name,
       (SELECT word FROM kept AS k WHERE k.source_file = g.source_file AND k.row = g.row
        ORDER BY pos DESC LIMIT 1) AS last_name
FROM (SELECT DISTINCT source_file, row FROM kept) AS g
