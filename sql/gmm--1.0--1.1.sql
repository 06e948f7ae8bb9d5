/* gmm 1.0 -> 1.1 (ALTER EXTENSION gmm UPDATE TO '1.1'); gmm--1.1.sql is gmm--1.0.sql plus this */

-- complain if the script is sourced in psql rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gmm UPDATE TO '1.1'" to load this file. \quit

