-- gmm_fit_auto: the number of components with the lowest BIC.
SET extra_float_digits = 0;
CREATE OR REPLACE FUNCTION gauss() RETURNS float8 LANGUAGE sql VOLATILE AS
$$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;
SELECT setseed(0.125);
CREATE TABLE three AS
SELECT c, ARRAY[12 * c + gauss(), 8 * (c % 2) + gauss()] AS x
FROM generate_series(0, 2) c, generate_series(1, 150) r;

CREATE TABLE auto AS SELECT gmm_fit_auto(x, 1, 5) AS m FROM three;
-- three clusters: three components
SELECT gmm_n_components(m) FROM auto;
-- every candidate's BIC is in the model's JSON, and the kept one is lowest
SELECT jsonb_array_length((m::text::jsonb)->'bic_trace') AS candidates,
	   (SELECT array_agg((e->>'n_components')::int ORDER BY (e->>'n_components')::int)
		FROM jsonb_array_elements((m::text::jsonb)->'bic_trace') e) AS ks,
	   (SELECT min((e->>'bic')::float8) FROM jsonb_array_elements((m::text::jsonb)->'bic_trace') e)
		= gmm_bic(m) AS kept_lowest
FROM auto;
-- each recorded BIC equals the BIC of a separate fit with that K
SELECT k, abs((SELECT (e->>'bic')::float8 FROM auto, jsonb_array_elements((m::text::jsonb)->'bic_trace') e
			   WHERE (e->>'n_components')::int = k) - gmm_bic(gmm_fit(x, k))) < 1e-6 AS same_bic
FROM three, generate_series(1, 5) k GROUP BY k ORDER BY k;
-- and equals the data form of gmm_bic on the training rows
SELECT abs(gmm_bic((SELECT m FROM auto)) - gmm_bic((SELECT m FROM auto), x)) < 1e-6 AS stored_equals_data
FROM three;

-- options apply to every candidate
SELECT gmm_covariance_type(gmm_fit_auto(x, 2, 3, '{"covariance_type": "diag"}')) FROM three;

-- errors
SELECT gmm_fit_auto(x, 3, 2) FROM three;
SELECT gmm_fit_auto(x, 0, 2) FROM three;
SELECT gmm_fit_auto(x, NULL, 2) FROM three;
SELECT gmm_fit_auto(x, 1, 10) FROM (SELECT x FROM three LIMIT 4) s;
SELECT gmm_fit_auto(x, 1, 3, gmm_options(weights_init => '{1}')) FROM three;
