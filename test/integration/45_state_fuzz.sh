#!/usr/bin/env bash
# Fuzzing the aggregate state types on the real server: states of gmm_em_step (every
# covariance type, with buffered rows) and of gmm_init, mutated at random (overwritten,
# truncated, cut bytes; seeded, so reproducible), go through text input and then the final
# function (gmm_init_state's text form is base64: it is mutated as bytes).  Each must be
# accepted or raise an error: the backend never crashes, and a
# change of the length, of a structural header field (magic, version, shape, counts of rows
# buffered or sampled, lengths, fingerprint) or of the embedded model is never accepted,
# unless the input canonicalises it away (another NaN payload where the model has none).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

gmm_fresh_db gmm_state_fuzz
gmm_sql "CREATE EXTENSION gmm" >/dev/null

gmm_psql <<'SQL'
CREATE AGGREGATE em_state(float8[], gmm) (SFUNC = gmm_em_step_transfn, STYPE = gmm_em_state);
CREATE AGGREGATE init_state(float8[], int, jsonb) (SFUNC = gmm_init_transfn, STYPE = gmm_init_state);
CREATE TABLE pts AS
SELECT i, ARRAY[sin(i) * 3 + (i % 3) * 4, cos(i * 1.7) * 2 - (i % 3)] AS x
FROM generate_series(1, 700) i;
CREATE TABLE seeds AS
SELECT 'em' AS kind, t AS cov, s::text AS state
FROM (SELECT t, em_state(x, m) AS s
	  FROM pts, unnest(ARRAY['full', 'tied', 'diag', 'spherical']) t,
		   LATERAL (SELECT gmm_fit(x, 3, jsonb_build_object('covariance_type', t, 'max_iter', 0)) AS m
					FROM pts) f
	  GROUP BY t) q
UNION ALL
SELECT 'init', NULL, init_state(x, 3, '{"sample_size": 40}')::text FROM pts;
-- must_fail: a mutation that must be rejected (see the top of the script)
-- canonical: its length, structural header fields and model decode to the original ones (e.g.
-- another NaN payload in the model's NULL lower bound)
CREATE TABLE results (kind text, must_fail boolean, accepted boolean, canonical boolean,
					  final_ok boolean);
DO $$
DECLARE
	r record; t text; b text; bb bytea; rb bytea; ob bytea; pos int; model_end int;
	must_fail boolean; acc boolean; fin boolean; re text; v int;
BEGIN
	PERFORM setseed(0.42);
	FOR r IN SELECT * FROM seeds LOOP
		-- em (text: the binary format in hex): bytes 0-31 (magic .. fingerprint) and the
		-- model, 56 .. 56 + L; init (text: the binary format in base64, mutated as bytes):
		-- 0-23 (magic .. rows in the sample) and the options length, 32-35
		IF r.kind = 'em' THEN
			model_end := 56 + ('x' || substr(r.state, 41, 8))::bit(32)::int;
		ELSE
			ob := decode(r.state, 'base64');
		END IF;
		FOR i IN 1..1500 LOOP
			must_fail := false;
			IF r.kind = 'em' THEN
				t := r.state;
				FOR j IN 1..(1 + (random() * 2)::int) LOOP
					pos := (random() * (length(t) / 2 - 1))::int;
					IF random() < 0.8 THEN
						b := lpad(to_hex((random() * 255)::int), 2, '0');
						IF b <> substr(t, 2 * pos + 1, 2) AND
						   (pos < 32 OR (pos >= 56 AND pos < model_end)) THEN
							must_fail := true;
						END IF;
						t := overlay(t placing b from 2 * pos + 1);
					ELSIF random() < 0.5 THEN
						t := left(t, 2 * pos);
						must_fail := true;
					ELSE
						t := overlay(t placing '' from 2 * pos + 1 for 2 * (1 + (random() * 8)::int));
						must_fail := true;
					END IF;
				END LOOP;
			ELSE
				bb := ob;
				FOR j IN 1..(1 + (random() * 2)::int) LOOP
					pos := (random() * (length(bb) - 1))::int;
					IF random() < 0.8 THEN
						v := (random() * 255)::int;
						IF v <> get_byte(bb, pos) AND (pos < 24 OR (pos >= 32 AND pos < 36)) THEN
							must_fail := true;
						END IF;
						bb := set_byte(bb, pos, v);
					ELSIF random() < 0.5 THEN
						bb := substr(bb, 1, pos);
						must_fail := true;
					ELSE
						bb := overlay(bb placing '\x'::bytea from pos + 1 for 1 + (random() * 8)::int);
						must_fail := true;
					END IF;
				END LOOP;
				t := translate(encode(bb, 'base64'), E'\n', '');
			END IF;
			IF t = r.state THEN
				CONTINUE;
			END IF;
			acc := false;
			fin := false;
			re := NULL;
			BEGIN
				IF r.kind = 'em' THEN
					re := t::gmm_em_state::text;
					acc := true;
					PERFORM gmm_em_step_final(t::gmm_em_state);
				ELSE
					re := t::gmm_init_state::text;
					acc := true;
					PERFORM gmm_init_final(t::gmm_init_state);
				END IF;
				fin := true;
			EXCEPTION WHEN others THEN
				NULL;
			END;
			IF r.kind = 'init' AND re IS NOT NULL THEN
				rb := decode(re, 'base64');
			END IF;
			INSERT INTO results VALUES (r.kind, must_fail, acc,
				re IS NOT NULL AND
				(CASE r.kind
					WHEN 'em' THEN length(re) = length(r.state) AND
						substr(re, 1, 64) = substr(r.state, 1, 64) AND
						substr(re, 113, 2 * (model_end - 56)) = substr(r.state, 113, 2 * (model_end - 56))
					ELSE length(rb) = length(ob) AND substr(rb, 1, 24) = substr(ob, 1, 24) AND
						substr(rb, 33, 4) = substr(ob, 33, 4) END),
				fin);
		END LOOP;
	END LOOP;
END $$;
SQL

check_sql "the server survived every mutated state" "1" "SELECT 1"
check_sql "mutated states were tried (about 7500)" "t" "SELECT count(*) > 7000 FROM results"
check_sql "most mutations are rejected" "t" "SELECT avg(CASE WHEN accepted THEN 0 ELSE 1 END) > 0.3 FROM results"
check_sql "length, structural header and model mutations were tried" "t" \
	"SELECT count(*) FILTER (WHERE must_fail) > 2000 FROM results"
check_sql "gmm_init_state: length and structural header mutations were tried" "t" \
	"SELECT count(*) FILTER (WHERE must_fail) > 400 FROM results WHERE kind = 'init'"
check_sql "no change of the length, a structural header field or the model was accepted" "0" \
	"SELECT count(*) FROM results WHERE must_fail AND accepted AND NOT canonical"
check_sql "some mutated states decode and run their final function (numbers in the sums)" "t" \
	"SELECT count(*) FILTER (WHERE final_ok) > 0 FROM results"
check_sql "the unmutated seeds still decode and finish" "5" \
	"SELECT count(*) FROM seeds WHERE CASE kind WHEN 'em' THEN gmm_em_step_final(state::gmm_em_state) IS NOT NULL
	                                   ELSE gmm_init_final(state::gmm_init_state) IS NOT NULL END"
done_testing
