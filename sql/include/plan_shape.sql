-- sql/include/plan_shape.sql (read with \i by the regress files that check a plan):
-- plan_shape(query), the plan's shape in the same words on PostgreSQL 15 to 18: EXPLAIN's
-- lines without the init plan's parameter numbers, which 17 stopped printing
-- ("InitPlan 1 (returns $1)" became "InitPlan 1", "Params Evaluated: $1" is gone)
CREATE OR REPLACE FUNCTION plan_shape(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		CONTINUE WHEN line ~ '^\s*Params Evaluated: ';
		RETURN NEXT regexp_replace(line, ' \(returns \$\d+\)$', '');
	END LOOP;
END
$$;
