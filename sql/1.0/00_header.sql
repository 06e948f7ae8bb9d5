/* gmm: Gaussian mixture models -- install script, assembled from sql/install/ */

-- complain if the script is sourced in psql rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION gmm" to load this file. \quit
