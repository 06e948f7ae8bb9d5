/* gmm 1.2 -> 1.3 (ALTER EXTENSION gmm UPDATE TO '1.3'); gmm--1.3.sql is gmm--1.2.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.3'" to load this file. \quit

-- ---- missing values: speed ----
-- gmm_init_key accepts rows with NULL elements (issue 10): a NULL hashes as the missing value
-- of gmm_init's sample with missing => 'em'; only the description changes
COMMENT ON FUNCTION gmm_init_key(float8[], bigint)
	IS 'sampling key of a row for gmm_init: the top 63 bits of a seeded 64-bit hash of its values, a NULL element hashed as one distinct value (the missing value of missing => ''em''); gmm_init''s sample is the sample_size rows first in ORDER BY gmm_init_key(x, random_state), x';
