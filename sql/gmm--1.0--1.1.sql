/* gmm 1.0 -> 1.1 (ALTER EXTENSION gmm UPDATE TO '1.1'); gmm--1.1.sql is gmm--1.0.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.1'" to load this file. \quit


-- ---- citus ----
-- gmm_train only reads: its queries are SELECTs that SPI runs read-only (SPI_execute_plan with
-- read_only = true: the calling query's snapshot, no command counter increment, and any
-- non-SELECT would be refused), so it cannot modify the database, and within a statement it
-- sees one snapshot of its source, which is PostgreSQL's definition of STABLE (like a function
-- whose result depends on a table lookup).  Its model is a function of that snapshot once
-- gmm_init's sample is independent of the scan's split and merge order (up to the order in
-- which parallel or distributed sums are added, as for sum(float8)).  STABLE lets Citus
-- evaluate it once on the coordinator in `UPDATE models SET model = gmm_train(...)` on a
-- reference table and send the resulting model to every placement (Citus refuses VOLATILE
-- functions in UPDATE on distributed tables).
ALTER FUNCTION gmm_train(regclass, name, int, jsonb) STABLE;
