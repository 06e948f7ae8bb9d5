#!/usr/bin/env bash
# SQL-level fuzzing of the gmm input functions on the real server: ~6,600 deterministic hostile
# inputs (fuzz_sql_inputs.py; GMM_FUZZ_SQL_SEED picks another seed) cast to gmm, ~3,700 byte
# strings with bytea::gmm and ~2,900 documents with text input.  Each must be either
#   - an ERROR of SQLSTATE class 22 (data exception) or 54 (program limit: jsonb's nesting
#     limit is 54001); anything else, XX000 above all, fails; or
#   - a valid model that round-trips (text -> gmm -> text identical, bytea -> gmm -> bytea
#     identical, text and binary forms decode to the same bytes, the jsonb cast agrees with
#     text input) and scores its own first mean to a finite log-likelihood.
# And the server never restarts: pg_postmaster_start_time() is unchanged and the server log
# has no "terminated by signal".
# This is what covers the text path: its JSON parser is jsonb_in, which the libFuzzer harness
# (test/fuzz) cannot link.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

gmm_fresh_db gmm_fuzz_sql
check "CREATE EXTENSION gmm" gmm_sql "CREATE EXTENSION gmm"

inputs=$GMM_TEST_SCRATCH/fuzz_inputs.tsv
/usr/bin/python3 "$GMM_ROOT/test/integration/fuzz_sql_inputs.py" "${GMM_FUZZ_SQL_SEED:-20240611}" >"$inputs"
chmod a+r "$inputs"
n_inputs=$(wc -l <"$inputs")
start_time=$(gmm_sql "SELECT pg_postmaster_start_time()")

# one DO block: a subtransaction per input, the outcome of each in fuzz_out
t0=$SECONDS
out=$(gmm_psql -At 2>&1 <<SQL
CREATE TABLE fuzz_in (id int PRIMARY KEY, kind text, payload text);
\\copy fuzz_in FROM '$inputs'
CREATE TABLE fuzz_out (id int, kind text, outcome text, message text);
DO \$\$
DECLARE
	r record;
	m gmm;
	t text;
	b bytea;
	row1 float8[];
	s float8;
	outcome text;
	msg text;
BEGIN
	FOR r IN SELECT * FROM fuzz_in ORDER BY id LOOP
		msg := NULL;
		BEGIN
			IF r.kind = 'b' THEN
				m := decode(r.payload, 'hex')::gmm;
			ELSE
				m := r.payload::gmm;
			END IF;
			outcome := 'valid';
		EXCEPTION WHEN OTHERS THEN
			outcome := SQLSTATE;
			msg := SQLERRM;
		END;
		IF outcome = 'valid' THEN
			BEGIN
				t := m::text;
				b := m::bytea;
				row1 := ARRAY(SELECT unnest((gmm_means(m))[1:1][:]));
				s := gmm_score_samples(m, row1);
				IF t::gmm::text IS DISTINCT FROM t THEN
					outcome := 'text round trip changed the model';
				ELSIF b::gmm::bytea IS DISTINCT FROM b THEN
					outcome := 'bytea round trip changed the model';
				ELSIF t::gmm::bytea IS DISTINCT FROM b THEN
					outcome := 'text and binary forms differ';
				ELSIF r.kind = 'j' AND r.payload::jsonb::gmm::bytea IS DISTINCT FROM b THEN
					outcome := 'jsonb cast differs from text input';
				ELSIF s IS NULL OR s IN ('NaN', 'Infinity', '-Infinity') THEN
					outcome := 'first mean scores ' || coalesce(s::text, 'NULL');
				ELSIF gmm_predict(m, row1) IS NULL THEN
					outcome := 'gmm_predict is NULL';
				END IF;
			EXCEPTION WHEN OTHERS THEN
				outcome := 'valid model fails: ' || SQLSTATE;
				msg := SQLERRM;
			END;
		END IF;
		INSERT INTO fuzz_out VALUES (r.id, r.kind, outcome, msg);
	END LOOP;
END
\$\$;
SELECT count(*) FROM fuzz_out;
SQL
)
rc=$?
elapsed=$((SECONDS - t0))
if [ "$rc" -eq 0 ] && [ "$(tail -n 1 <<<"$out")" = "$n_inputs" ]; then
	ok "all $n_inputs inputs cast in one session (${elapsed}s)"
else
	not_ok "all $n_inputs inputs cast in one session" "$out"
fi

check_sql "the server did not restart" "$start_time" "SELECT pg_postmaster_start_time()"
if grep -qE "terminated by signal|server process .* was terminated" "$GMM_TEST_LOG"; then
	not_ok "no backend terminated by a signal" "$(grep -m 5 -E 'terminated by signal' "$GMM_TEST_LOG")"
else
	ok "no backend terminated by a signal"
fi

# outcomes per kind: every input is valid or a class 22/54 error
for kind in b j; do
	what=$([ "$kind" = b ] && echo "bytea::gmm" || echo "text::gmm")
	summary=$(gmm_sql "SELECT count(*) FILTER (WHERE outcome = 'valid') || ' valid, ' ||
		count(*) FILTER (WHERE outcome ~ '^(22|54)...\$') || ' errors (22xxx/54xxx), ' ||
		count(DISTINCT outcome) FILTER (WHERE outcome ~ '^(22|54)...\$') || ' SQLSTATEs'
		FROM fuzz_out WHERE kind = '$kind'")
	echo "# $what: $summary"
	bad=$(gmm_sql "SELECT string_agg(id || ': ' || outcome || coalesce(' (' || message || ')', ''), E'\n' ORDER BY id)
		FROM (SELECT * FROM fuzz_out WHERE kind = '$kind' AND outcome <> 'valid'
		      AND outcome !~ '^(22|54)...\$' ORDER BY id LIMIT 10) s")
	if [ -z "$bad" ]; then
		ok "$what: every input is a valid model or a class 22/54 error"
	else
		nbad=$(gmm_sql "SELECT count(*) FROM fuzz_out WHERE kind = '$kind' AND outcome <> 'valid' AND outcome !~ '^(22|54)...\$'")
		not_ok "$what: every input is a valid model or a class 22/54 error ($nbad are not)" \
			"$bad"$'\n'"(payloads: SELECT payload FROM fuzz_in WHERE id = ...; database gmm_fuzz_sql)"
	fi
	# not vacuous: both outcomes occur in numbers
	check_sql "$what: fuzzing reaches both valid models and errors" "t" \
		"SELECT count(*) FILTER (WHERE outcome = 'valid') >= 50 AND count(*) FILTER (WHERE outcome <> 'valid') >= 500
		 FROM fuzz_out WHERE kind = '$kind'"
done

done_testing
