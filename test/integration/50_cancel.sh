#!/usr/bin/env bash
# Cancellation: a long gmm_fit (100 000 rows x 8 features, 10 full components, tol 0, max_iter
# 100 000: minutes of EM) is stopped promptly by statement_timeout and by pg_cancel_backend from
# another session; the backend's memory returns to its level before the fit; the session is
# still usable afterwards.
#
# Memory, in the same backend: (1) the total of pg_backend_memory_contexts, i.e. everything
# palloc'd (the fit's rows, responsibilities and model live in the aggregate's memory context),
# must come back to its level before the fit, within 64 kB; (2) RssAnon of the backend
# (/proc/PID/status: private anonymous memory, so the shared buffers the scan touched do not
# count) must not grow from one cancelled fit to the next by more than 4 MB.  glibc keeps freed
# heap memory mapped, so RSS after the first big fit stays higher than before it; a leak, though,
# would grow with every cancelled fit (the fit allocates ~15 MB), which (2) catches.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

TIMEOUT_MS=2000
CANCEL_AFTER=2
export PGOPTIONS="-c client_min_messages=warning"
gmm_fresh_db gmm_cancel
check "CREATE EXTENSION gmm" gmm_sql "CREATE EXTENSION gmm"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gmm-cancel.XXXXXX")
# shellcheck disable=SC2016 # expanded when the hook runs
gmm_on_exit 'rm -rf "$WORK"'

gmm_psql <<'SQL'
CREATE TABLE big AS
	SELECT g, ARRAY[sin(g), cos(g * 1.7), sin(g * 0.3), cos(g * 0.11), sin(g * 2.1), cos(g * 0.7),
	                sin(g * 1.1), cos(g * 3.3)]::float8[] AS x
	FROM generate_series(1, 100000) g;
CREATE TABLE small AS SELECT x FROM big WHERE g <= 500;
CREATE TABLE cancel_log (at timestamptz, ok bool);
VACUUM ANALYZE big;
SQL

FIT="SELECT gmm_n_iter(gmm_fit(x, 10, gmm_options(max_iter => 100000, tol => 0))) FROM big"
PSQL="$GMM_TEST_PGBIN/psql -X -q -At"

# the other session: wait until the victim runs its second fit, let it run, cancel it
(
	for ((i = 0; i < 600; i++)); do
		n=$($PSQL -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gmm_victim'
		               AND state = 'active' AND query LIKE '%cancel-me%'" 2>/dev/null || echo 0)
		[ "$n" = 1 ] && break
		sleep 0.1
	done
	sleep "$CANCEL_AFTER"
	$PSQL -c "INSERT INTO cancel_log SELECT clock_timestamp(), pg_cancel_backend(pid)
	          FROM pg_stat_activity WHERE application_name = 'gmm_victim' AND query LIKE '%cancel-me%'"
) >"$WORK/canceller.out" 2>&1 &
cpid=$!

# one session: warm up, measure, fit with a timeout, measure, fit and be cancelled, measure
# (every statement of the measured part runs once before the first measurement, so that catalog
# caches and plans it fills count in the baseline)
CTX="SELECT sum(total_bytes) AS ctx FROM pg_backend_memory_contexts"
PGAPPNAME=gmm_victim $PSQL -v ON_ERROR_STOP=0 >"$WORK/victim.out" 2>&1 <<SQL
SELECT gmm_n_components(gmm_fit(x, 3)) FROM small;
SELECT gmm_n_iter(gmm_fit(x, 10, gmm_options(max_iter => 1, tol => 0))) FROM big;
SELECT pg_backend_pid() AS pid \\gset
\\setenv GMM_VICTIM_PID :pid
\\echo pid=:pid
SELECT clock_timestamp() AS t0 \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS e0 \\gset
SELECT extract(epoch FROM clock_timestamp() - at) FROM cancel_log \\gset cancel_
SET statement_timeout = 0;
RESET statement_timeout;
$CTX \\gset
$CTX \\gset
\\echo ctx0=:ctx
\\! grep RssAnon /proc/\$GMM_VICTIM_PID/status | sed 's/^/rss0 /'
SET statement_timeout = $TIMEOUT_MS;
SELECT clock_timestamp() AS t0 \\gset
$FIT;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS e1 \\gset
RESET statement_timeout;
$CTX \\gset
\\echo ctx1=:ctx
\\echo timeout_elapsed=:e1
\\! grep RssAnon /proc/\$GMM_VICTIM_PID/status | sed 's/^/rss1 /'
$FIT /* cancel-me */;
SELECT clock_timestamp() AS t2 \\gset
$CTX \\gset
\\echo ctx2=:ctx
\\! grep RssAnon /proc/\$GMM_VICTIM_PID/status | sed 's/^/rss2 /'
SELECT extract(epoch FROM :'t2'::timestamptz - at) FROM cancel_log \\gset cancel_
\\echo cancel_latency=:cancel_extract
SELECT 'usable:' || gmm_n_components(gmm_fit(x, 2)) FROM small;
SELECT name, sum(total_bytes) FROM pg_backend_memory_contexts GROUP BY name ORDER BY 2 DESC LIMIT 12;
SQL
wait "$cpid" || true
sed 's/^/# victim: /' "$WORK/victim.out"
sed 's/^/# canceller: /' "$WORK/canceller.out"

val() { sed -nE "s/^$1=(.*)$/\\1/p" "$WORK/victim.out" | head -n 1; }
rss() { awk -v k="$1" '$1 == k { print $3 }' "$WORK/victim.out" | head -n 1; }

# statement_timeout: the error, and the time it took past the timeout
check "statement_timeout cancels the fit" grep -q 'canceling statement due to statement timeout' "$WORK/victim.out"
e1=$(val timeout_elapsed)
if [ -n "$e1" ] && awk -v e="$e1" -v t="$TIMEOUT_MS" 'BEGIN { exit !(e >= t / 1000 && e < t / 1000 + 1.0) }'; then
	ok "the fit stopped ${e1}s after it started (timeout $((TIMEOUT_MS / 1000))s; less than 1 s late)"
else
	not_ok "the fit stopped less than 1 s after the timeout" "elapsed: ${e1:-?}"
fi
# pg_cancel_backend
check "pg_cancel_backend cancels the fit" grep -q 'canceling statement due to user request' "$WORK/victim.out"
lat=$(val cancel_latency)
if [ -n "$lat" ] && awk -v e="$lat" 'BEGIN { exit !(e >= 0 && e < 1.0) }'; then
	ok "the fit stopped ${lat}s after pg_cancel_backend (less than 1 s)"
else
	not_ok "the fit stopped less than 1 s after pg_cancel_backend" "latency: ${lat:-?}"
fi
check_sql "pg_cancel_backend was sent once and returned true" "1|true" \
	"SELECT count(*) || '|' || bool_and(ok) FROM cancel_log"

# memory
m0=$(val ctx0) m1=$(val ctx1) m2=$(val ctx2)
echo "# memory contexts: before ${m0:-?} B, after the timeout ${m1:-?} B, after the cancel ${m2:-?} B"
for pair in "timeout:$m1" "cancel:$m2"; do
	what=${pair%%:*} m=${pair#*:}
	if [ -n "$m0" ] && [ -n "$m" ] && [ $((m - m0)) -lt 65536 ] && [ $((m0 - m)) -lt 65536 ]; then
		ok "memory contexts back to their level after the $what ($m0 -> $m bytes)"
	else
		not_ok "memory contexts back to their level after the $what" "before: ${m0:-?}, after: ${m:-?}"
	fi
done
r1=$(rss rss1) r2=$(rss rss2)
echo "# RssAnon: after the timeout ${r1:-?} kB, after the cancel ${r2:-?} kB"
if [ -n "$r1" ] && [ -n "$r2" ] && [ $((r2 - r1)) -lt 4096 ]; then
	ok "RssAnon does not grow from one cancelled fit to the next (${r1} -> ${r2} kB)"
else
	not_ok "RssAnon does not grow from one cancelled fit to the next" "${r1:-?} -> ${r2:-?} kB"
fi

check "the session is still usable after both cancellations" grep -q '^usable:2$' "$WORK/victim.out"
check_sql "the server is still up" "1" "SELECT 1"
gmm_psql -d postgres -c "DROP DATABASE gmm_cancel"
done_testing
