"""Shared by the conformance scripts: psql against the test cluster and TAP-like checks.

Not a test itself (not executable: tools/test.sh runs the executable files of this folder).
"""
import os
import subprocess

PSQL = os.path.join(os.environ["GMM_TEST_PGBIN"], "psql") if os.environ.get("GMM_TEST_PGBIN") else "psql"

passed = 0
failed = 0


def psql(sql=None, stdin=None):
    """Run SQL (or the script on stdin), return stdout (unaligned, tuples only); raise on error."""
    args = [PSQL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    r = subprocess.run(args + (["-c", sql] if stdin is None else ["-f", "-"]),
                       input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    return r.stdout


def check(name, cond, detail=""):
    """One "ok N - name" or "not ok N - name" line, the detail under a failure."""
    global passed, failed
    if cond:
        passed += 1
        print(f"ok {passed + failed} - {name}")
    else:
        failed += 1
        print(f"not ok {passed + failed} - {name}")
        if detail:
            for line in str(detail).splitlines():
                print("#   " + line)


def summary():
    """The closing "N passed, N failed" line; the exit status to use."""
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
