-- gmm_fit past work_mem: the packed rows spill to temporary files, the model
-- is the one fitted in memory, and no temporary file is left behind (after
-- success, an error or a cancel).
SET extra_float_digits = 0;
CREATE TABLE spill AS
SELECT i, ARRAY[(i % 17)::float8 + 9 * (i % 3), ((i * 7) % 23)::float8,
				(i % 5)::float8 - 4 * (i % 3), ((i * 3) % 11)::float8] AS x,
	   1 + i % 4 AS w, i % 3 AS g
FROM generate_series(1, 30000) i;	-- 30000 x 4 doubles: 960 kB of rows

CREATE TABLE in_memory AS
SELECT gmm_fit(x, 3) AS plain, gmm_fit_weighted(x, w, 3, '{"covariance_type": "diag"}') AS weighted
FROM spill;

-- proof that a small work_mem spills: with temp_file_limit below the data the
-- fit fails on the temporary file, and with enough work_mem it never writes one
SET work_mem = '64kB';
SET temp_file_limit = '200kB';
-- (the error's text without the quotes PostgreSQL 18 puts around the name)
DO $$
BEGIN
	PERFORM gmm_n_samples(gmm_fit(x, 3)) FROM spill;
	RAISE EXCEPTION 'the fit did not fail on temp_file_limit';
EXCEPTION WHEN configuration_limit_exceeded THEN
	RAISE NOTICE 'error %: %', SQLSTATE, replace(SQLERRM, '"temp_file_limit"', 'temp_file_limit');
END
$$;
SELECT count(*) AS temp_files_after_error FROM pg_ls_tmpdir();
SET work_mem = '16MB';
SELECT gmm_n_samples(gmm_fit(x, 3)) FROM spill;
RESET temp_file_limit;

-- spilled fits equal the fits in memory, byte for byte
SET work_mem = '64kB';
SELECT gmm_fit(x, 3)::bytea = (SELECT plain::bytea FROM in_memory) AS same_plain,
	   gmm_fit_weighted(x, w, 3, '{"covariance_type": "diag"}')::bytea
		 = (SELECT weighted::bytea FROM in_memory) AS same_weighted
FROM spill;
SELECT count(*) AS temp_files_after_success FROM pg_ls_tmpdir();

-- one model per group, each spilled (10000 rows of 4 doubles each); ORDER BY
-- inside the aggregate, since a fit depends on the order of its rows
CREATE TABLE grouped_spilled AS SELECT g, gmm_fit(x, 2 ORDER BY i)::bytea AS m FROM spill GROUP BY g;
SET work_mem = '16MB';
SELECT g, m = (SELECT gmm_fit(x, 2 ORDER BY i)::bytea FROM spill s WHERE s.g = gs.g) AS same
FROM grouped_spilled gs ORDER BY g;
SELECT count(*) AS temp_files_after_groups FROM pg_ls_tmpdir();

-- as a window function: the frame grows past work_mem and the final function
-- maps the growing file again
SET work_mem = '64kB';
CREATE TABLE win AS
SELECT i, gmm_fit(x, 1) OVER (ORDER BY i) AS m FROM spill WHERE i <= 4000;
SET work_mem = '16MB';
SELECT count(*) AS rows, bool_and(gmm_n_samples(m) = i) AS growing,
	   (SELECT m::bytea FROM win WHERE i = 4000)
		 = (SELECT gmm_fit(x, 1)::bytea FROM spill WHERE i <= 4000) AS last_equals_whole
FROM win;
SELECT count(*) AS temp_files_after_window FROM pg_ls_tmpdir();

-- cancelled by statement_timeout while spilled: the files go with the
-- transaction
SET work_mem = '64kB';
SET statement_timeout = '300ms';
SELECT gmm_fit(x, 6, '{"tol": 0, "max_iter": 1000000}') FROM spill;
RESET statement_timeout;
SELECT count(*) AS temp_files_after_cancel FROM pg_ls_tmpdir();
RESET work_mem;
