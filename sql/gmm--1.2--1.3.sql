/* gmm 1.2 -> 1.3 (ALTER EXTENSION gmm UPDATE TO '1.3'); gmm--1.3.sql is gmm--1.2.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.3'" to load this file. \quit
