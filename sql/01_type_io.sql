-- gmm type: text (JSON), jsonb, binary and bytea input/output, round trips
-- hand-written models of every covariance type: only weights, means and
-- covariances are required; covariance_type defaults to "full"
CREATE TABLE models (name text PRIMARY KEY, m gmm);
INSERT INTO models VALUES
  ('full', '{"weights": [0.25, 0.75], "means": [[0, 0], [1, 2]],
             "covariances": [[[4, 2], [2, 3]], [[1, 0], [0, 1]]]}'),
  ('tied', '{"covariance_type": "tied", "weights": [0.5, 0.5],
             "means": [[0, 0], [3, 3]], "covariances": [[2, 0.5], [0.5, 1]]}'),
  ('diag', '{"covariance_type": "diag", "n_components": 2, "n_features": 3,
             "weights": [0.4, 0.6], "means": [[1, 2, 3], [-1, -2, -3]],
             "covariances": [[4, 1, 0.25], [1, 2, 3]]}'),
  ('spherical', '{"covariance_type": "spherical", "weights": [0.1, 0.2, 0.7],
                  "means": [[0.1], [-0.2], [1e-300]], "covariances": [0.25, 1, 4]}'),
  -- a fitted-looking model: every key of the output format
  ('fitted', '{"format_version": 1, "covariance_type": "full", "n_components": 2,
               "n_features": 2, "weights": [0.5, 0.5], "means": [[1, 1], [5, 5]],
               "covariances": [[[0.6666666666666666, 0], [0, 0.6666666666666666]],
                               [[0.6666666666666666, 0], [0, 0.6666666666666666]]],
               "converged": true, "n_iter": 2, "lower_bound": -2.4041434612787216,
               "log_likelihood": -2.4041434612787216, "n_samples": 6, "sum_weights": 6,
               "options": {"max_iter": 50, "tol": 1e-4, "reg_covar": 1e-6,
                           "random_state": 42, "init_params": "k-means++", "n_init": 3},
               "bic_trace": [{"n_components": 1, "bic": 40.5}, {"n_components": 2, "bic": 38.25}]}');

-- the text form: JSON with scikit-learn's names, shortest round-trip floats,
-- null for a missing lower bound / log-likelihood
SELECT name, m FROM models ORDER BY name;

-- text round trip reproduces the same value, byte for byte
SELECT name, m::text::gmm::bytea = m::bytea AS same_bytes,
       m::text::gmm::text = m::text AS same_text
FROM models ORDER BY name;

-- jsonb cast and round trip
SELECT m::jsonb FROM models WHERE name = 'tied';
SELECT name, m::jsonb::gmm::bytea = m::bytea AS jsonb_round_trip
FROM models ORDER BY name;
SELECT jsonb_build_object('covariance_type', 'spherical', 'weights', jsonb_build_array(1),
                          'means', jsonb_build_array(jsonb_build_array(1, 2)),
                          'covariances', jsonb_build_array(2))::gmm;
SELECT gmm_from_jsonb('{"weights": [1], "means": [[0]], "covariances": [[[1]]]}');

-- bytea cast (the binary send format) and round trip
SELECT m::bytea FROM models WHERE name = 'tied';
SELECT name, m::bytea::gmm::bytea = m::bytea AS bytea_round_trip,
       length(m::bytea) AS bytes
FROM models ORDER BY name;

-- binary COPY round trip (gmm_send / gmm_recv)
\copy models TO '/tmp/gmm_regress_01_type_io.bin' WITH (FORMAT binary)
CREATE TABLE models_bin (LIKE models);
\copy models_bin FROM '/tmp/gmm_regress_01_type_io.bin' WITH (FORMAT binary)
SELECT a.name, a.m::bytea = b.m::bytea AS binary_copy_round_trip
FROM models a JOIN models_bin b USING (name) ORDER BY a.name;

-- text COPY round trip
\copy models TO '/tmp/gmm_regress_01_type_io.txt'
CREATE TABLE models_txt (LIKE models);
\copy models_txt FROM '/tmp/gmm_regress_01_type_io.txt'
SELECT a.name, a.m::bytea = b.m::bytea AS text_copy_round_trip
FROM models a JOIN models_txt b USING (name) ORDER BY a.name;
\! rm -f /tmp/gmm_regress_01_type_io.bin /tmp/gmm_regress_01_type_io.txt

-- awkward doubles survive the text form exactly: shortest forms, the
-- smallest subnormal, the largest double, many digits; -0 becomes 0 (the
-- JSON number -0 reads back as 0, so the value keeps no sign of zero)
SELECT '{"covariance_type": "diag", "weights": [1],
         "means": [[0.1, -0, 5e-324, 1.7976931348623157e308, 123456789.12345678, -2.5e-8]],
         "covariances": [[1e-300, 1e300, 0.3, 3, 1, 1]]}'::gmm AS m \gset
SELECT :'m'::gmm;
SELECT :'m'::gmm::text::gmm::bytea = :'m'::gmm::bytea AS same_bytes;
SELECT gmm_means(:'m'::gmm);

-- weights summing to 1 up to rounding error are kept as given; weights within
-- 1e-9 of summing to 1 are renormalised, and a renormalised model is stable
-- under further round trips
SELECT gmm_weights('{"weights": [0.3333333333, 0.3333333333, 0.3333333334],
                     "means": [[0], [1], [2]], "covariances": [1, 1, 1],
                     "covariance_type": "spherical"}');
SELECT '{"weights": [0.7, 0.3000000004], "means": [[0], [1]], "covariances": [1, 1],
         "covariance_type": "spherical"}'::gmm AS w \gset
SELECT gmm_weights(:'w'::gmm), sum(x) = 1 AS sums_to_one
FROM unnest(gmm_weights(:'w'::gmm)) x;
SELECT :'w'::gmm::text::gmm::bytea = :'w'::gmm::bytea AS stable;

-- full covariances asymmetric by rounding error only are accepted and made
-- exactly symmetric
SELECT gmm_covariances('{"weights": [1], "means": [[0, 0]],
                         "covariances": [[[1, 0.3], [0.30000000000000004, 2]]]}');

-- numbers in any JSON spelling; integers may carry a zero fraction
SELECT gmm_means('{"weights": [1.0], "n_components": 1.000, "means": [[1E2, 2.50e-1, -0.0]],
                   "covariances": [[3, 3, 3]], "covariance_type": "diag"}');

-- jsonb keeps the last of duplicate keys, and so does gmm input
SELECT gmm_weights('{"weights": [7], "weights": [1], "means": [[0]], "covariances": [[[1]]]}');

-- a model too large to keep inline is compressed/toasted; header accessors
-- read only the header slice
CREATE TABLE big AS
SELECT jsonb_build_object(
         'weights', (SELECT jsonb_agg(0.05) FROM generate_series(1, 20)),
         'means', (SELECT jsonb_agg((SELECT jsonb_agg(i + j * 0.5) FROM generate_series(1, 30) j))
                   FROM generate_series(1, 20) i),
         'covariances', (SELECT jsonb_agg((SELECT jsonb_agg((SELECT jsonb_agg(CASE WHEN r = c THEN 2.0 + i ELSE 0.5 END)
                                                             FROM generate_series(1, 30) c))
                                           FROM generate_series(1, 30) r))
                         FROM generate_series(1, 20) i))::gmm AS m;
SELECT gmm_n_components(m), gmm_n_features(m), gmm_covariance_type(m),
       length(m::bytea) AS send_bytes, pg_column_size(m) < length(m::bytea) AS compressed,
       m::text::gmm::bytea = m::bytea AS text_round_trip,
       m::bytea::gmm::bytea = m::bytea AS bytea_round_trip
FROM big;

-- NULL in, NULL out
SELECT NULL::gmm IS NULL AS n1, NULL::text::gmm IS NULL AS n2,
       NULL::jsonb::gmm IS NULL AS n3, NULL::bytea::gmm IS NULL AS n4,
       (NULL::gmm)::jsonb IS NULL AS n5, (NULL::gmm)::bytea IS NULL AS n6;

DROP TABLE models, models_bin, models_txt, big;
