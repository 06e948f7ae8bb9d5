/* gmm 1.1 -> 1.2 (ALTER EXTENSION gmm UPDATE TO '1.2'); gmm--1.2.sql is gmm--1.1.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.2'" to load this file. \quit

-- One block per concern, each starting with a line "-- ---- <concern> ----".
