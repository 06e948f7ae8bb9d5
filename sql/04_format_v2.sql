-- gmm format version 2: sections after the parameters (n_missing is the one of
-- this file; the others have their own suites), the rng header field, the
-- lowest version that holds a model, and every structural error of sections.
CREATE FUNCTION err(q text, OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE q;
  state := '00000';
  message := 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                          detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END $f$;

CREATE TABLE base AS SELECT '{"weights": [0.25, 0.75], "means": [[0, 1], [2, 3]],
	"covariances": [[[1, 0.5], [0.5, 2]], [[3, 0], [0, 1]]], "n_samples": 40}'::gmm AS m;

-- a model without version 2's content stays version 1, whatever its text says
SELECT gmm_format_version(m), get_byte(m::bytea, 4) AS byte4 FROM base;
SELECT gmm_format_version(('{"format_version": 2' || substr(m::text, 21))::gmm) FROM base;
-- n_missing makes a version 2 model; 0 is no section
SELECT gmm_format_version(v), gmm_n_missing(v), v::jsonb -> 'n_missing' AS n_missing,
	v::jsonb ->> 'format_version' AS format_version
FROM (SELECT (m::jsonb || '{"n_missing": 7}')::gmm AS v FROM base) s;
SELECT gmm_format_version(v), gmm_n_missing(v), v::jsonb ? 'n_missing' AS has_key
FROM (SELECT (m::jsonb || '{"n_missing": 0}')::gmm AS v FROM base) s;
SELECT gmm_n_missing(m) FROM base;
-- rng: in "options" only when not the default
SELECT gmm_format_version(v), gmm_fit_options(v) ->> 'rng' AS rng, get_byte(v::bytea, 88) AS byte88
FROM (SELECT jsonb_set(m::jsonb, '{options}', '{"rng": "sklearn"}')::gmm AS v FROM base) s;
SELECT gmm_format_version(v), gmm_fit_options(v) ? 'rng' AS has_rng
FROM (SELECT jsonb_set(m::jsonb, '{options}', '{"rng": "xoshiro256"}')::gmm AS v FROM base) s;

-- round trips of a version 2 model: text, jsonb, binary, bytea give the same bytes
CREATE TABLE v2 AS SELECT jsonb_set(m::jsonb || '{"n_missing": 5}', '{options,rng}', '"sklearn"')::gmm AS m FROM base;
SELECT m::text FROM v2;
SELECT m::text::gmm::bytea = m::bytea AS text_rt, (m::jsonb)::gmm::bytea = m::bytea AS jsonb_rt,
	(m::bytea)::gmm::text = m::text AS bytea_rt, gmm_recv_check AS send_recv
FROM v2, LATERAL (SELECT gmm_send(m) = m::bytea AS gmm_recv_check) r;
-- the binary form: version 1's bytes, then the section count and each section
SELECT length(m::bytea) AS bytes, encode(substr(m::bytea, 105 + 8 * (2 + 4 + 8)), 'hex') AS sections FROM v2;
-- scoring does not depend on the sections
SELECT gmm_score_samples(v2.m, '{1, 2}') = gmm_score_samples(base.m, '{1, 2}') AS same_score FROM v2, base;

\x on
-- ---------------------------------------------------- errors of the sections
-- text: n_missing must be a non-negative integer, no more than the values
SELECT * FROM err($$ SELECT (m::jsonb || '{"n_missing": -1}')::gmm FROM base $$);
SELECT * FROM err($$ SELECT (m::jsonb || '{"n_missing": 1.5}')::gmm FROM base $$);
SELECT * FROM err($$ SELECT (m::jsonb || '{"n_missing": "3"}')::gmm FROM base $$);
SELECT * FROM err($$ SELECT (m::jsonb || '{"n_missing": 81}')::gmm FROM base $$);
SELECT * FROM err($$ SELECT jsonb_set(m::jsonb, '{options}', '{"rng": "mt19937"}')::gmm FROM base $$);
-- binary: v is the version-2 bytes; the sections start at byte 216 (0-based)
CREATE TABLE b AS SELECT m::bytea AS v FROM v2;
-- unknown section tag, flags set, payload too long for the value, a payload
-- of the wrong length, trailing bytes, truncated, the same section twice
SELECT * FROM err($$ SELECT set_byte(v, 221, 9)::gmm FROM b $$);
SELECT * FROM err($$ SELECT set_byte(v, 223, 1)::gmm FROM b $$);
SELECT * FROM err($$ SELECT set_byte(v, 227, 2)::gmm FROM b $$);
SELECT * FROM err($$ SELECT (substr(v, 1, 224) || '\x00000002'::bytea || substr(v, 229) || '\x0000000000000000'::bytea)::gmm FROM b $$);
SELECT * FROM err($$ SELECT (v || '\x00'::bytea)::gmm FROM b $$);
SELECT * FROM err($$ SELECT substr(v, 1, length(v) - 1)::gmm FROM b $$);
SELECT * FROM err($$ SELECT (substr(v, 1, 216) || '\x00000002'::bytea || substr(v, 221) || substr(v, 221))::gmm FROM b $$);
-- a NaN n_missing; a negative zero, which is zero (no values missing is no section)
SELECT * FROM err($$ SELECT overlay(v PLACING '\x7ff8000000000000'::bytea FROM 229 FOR 8)::gmm FROM b $$);
SELECT * FROM err($$ SELECT overlay(v PLACING '\x8000000000000000'::bytea FROM 229 FOR 8)::gmm FROM b $$);
-- the rng byte out of range, reserved bytes after it
SELECT * FROM err($$ SELECT set_byte(v, 88, 2)::gmm FROM b $$);
SELECT * FROM err($$ SELECT set_byte(v, 89, 1)::gmm FROM b $$);
SELECT * FROM err($$ SELECT set_byte(v, 103, 1)::gmm FROM b $$);
-- a version newer than this extension's
SELECT * FROM err($$ SELECT set_byte(v, 4, 3)::gmm FROM b $$);
\x off

-- no corruption of a version 2 value crashes: every truncation, every byte
-- inverted either fails with a clean error or is a valid model
SELECT count(*) AS cases, count(*) FILTER (WHERE e.state = '00000') AS valid,
	count(*) FILTER (WHERE e.state NOT IN ('00000', '22P03', '22000', '22023', '54000', '22003')) AS other_states
FROM b, generate_series(0, length(v) - 1) i,
	LATERAL err(format($q$ SELECT set_byte(%L::bytea, %s, 255 - get_byte(%L::bytea, %s))::gmm $q$, v, i, v, i)) e;
SELECT count(*) AS cases, count(*) FILTER (WHERE e.state = '00000') AS valid
FROM b, generate_series(0, length(v) - 1) i,
	LATERAL err(format($q$ SELECT substr(%L::bytea, 1, %s)::gmm $q$, v, i)) e;

-- gmm_options carries the options of 1.2 (parsed by the fitting functions)
SELECT gmm_options(rng => 'sklearn', missing => 'em', weight_concentration_prior_type => 'dirichlet_process',
	weight_concentration_prior => 0.5, mean_precision_prior => 1, mean_prior => '{0, 0}',
	degrees_of_freedom_prior => 2, covariance_prior => '{1, 1}');
DROP TABLE base, v2, b;
DROP FUNCTION err(text);
