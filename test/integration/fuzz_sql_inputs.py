#!/usr/bin/python3
"""Hostile inputs for test/integration/75_fuzz_sql.sh, as COPY text rows.

    /usr/bin/python3 test/integration/fuzz_sql_inputs.py [SEED] > inputs.tsv

Each row is "id<TAB>kind<TAB>payload": kind b is a bytea in hex (cast with
bytea::gmm), kind j a document for text input (and the jsonb cast).  The
generator is deterministic for a seed: random byte strings, truncations and
single-byte and header-field mutations of valid models' binary form; valid
JSON models with keys dropped, renamed, retyped, numbers made huge, NaN
strings, negative or tiny, arrays truncated, padded or nested wrongly; random
JSON values and random text.
"""
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fuzz"))
from gen_corpus import model as binary_model  # noqa: E402

COV_TYPES = ("full", "tied", "diag", "spherical")
KEYS = ("format_version", "covariance_type", "n_components", "n_features",
        "weights", "means", "covariances", "converged", "n_iter",
        "lower_bound", "log_likelihood", "n_samples", "sum_weights",
        "options", "bic_trace")


def json_model(rng, cov_type, k, d):
    """A valid model as a JSON object (Python value)."""
    weights = [1.0 / k] * k
    means = [[rng.uniform(-5, 5) for _ in range(d)] for _ in range(k)]

    def spd():
        a = [[rng.uniform(-1, 1) for _ in range(d)] for _ in range(d)]
        return [[sum(a[i][t] * a[j][t] for t in range(d)) + (1.0 if i == j else 0.0)
                 for j in range(d)] for i in range(d)]

    if cov_type == "full":
        cov = [spd() for _ in range(k)]
    elif cov_type == "tied":
        cov = spd()
    elif cov_type == "diag":
        cov = [[rng.uniform(0.1, 3) for _ in range(d)] for _ in range(k)]
    else:
        cov = [rng.uniform(0.1, 3) for _ in range(k)]
    doc = {"covariance_type": cov_type, "weights": weights, "means": means,
           "covariances": cov}
    if rng.random() < 0.5:
        doc.update({"format_version": 1, "n_components": k, "n_features": d,
                    "converged": True, "n_iter": 5, "lower_bound": -1.5,
                    "log_likelihood": None, "n_samples": 100,
                    "sum_weights": 100.0,
                    "options": {"max_iter": 100, "tol": 1e-3, "reg_covar": 1e-6,
                                "random_state": 7, "init_params": "kmeans",
                                "n_init": 1}})
    if rng.random() < 0.3:
        doc["bic_trace"] = [{"n_components": i + 1, "bic": 10.0 - i}
                            for i in range(rng.randint(1, 3))]
    return doc


WEIRD_NUMBERS = ["1e400", "-1e400", "1e-400", "-0", "0", "-1", "1e308",
                 "2.2250738585072014e-308", "4.9e-324", "123456789012345678901234567890",
                 "-9223372036854775809", "9223372036854775808", "2147483648",
                 "-2147483649", "0.5", "1.0000000001", "3.5"]
WEIRD_VALUES = ['"NaN"', '"Infinity"', '"-Infinity"', "null", "true", "false",
                '""', '"x"', "[]", "{}", "[[]]", "[null]", '[1, "a"]', '{"a": 1}',
                '"\\u0000"', '"\\ud800"']


def random_json(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice(WEIRD_NUMBERS + WEIRD_VALUES)
    if r < 0.65:
        return "[" + ", ".join(random_json(rng, depth + 1)
                               for _ in range(rng.randint(0, 4))) + "]"
    keys = list(KEYS) + ["bogus", "", "Weights"]
    return "{" + ", ".join('"%s": %s' % (rng.choice(keys), random_json(rng, depth + 1))
                           for _ in range(rng.randint(0, 4))) + "}"


def paths(v, prefix=()):
    """Every (path) inside a JSON value, containers included."""
    yield prefix
    if isinstance(v, dict):
        for key, x in v.items():
            yield from paths(x, prefix + (key,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from paths(x, prefix + (i,))


def replace_at(doc, path, text):
    """doc serialised with the value at path replaced by raw JSON text."""
    marker = "__FUZZ_MARKER__"
    copy = json.loads(json.dumps(doc))
    if not path:
        return text
    parent = copy
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = marker
    return json.dumps(copy).replace('"%s"' % marker, text, 1)


def mutate_json(rng, doc):
    op = rng.randrange(8)
    if op == 0:  # drop a key
        d = dict(doc)
        d.pop(rng.choice(list(d)))
        return json.dumps(d)
    if op == 1:  # rename a key
        d = dict(doc)
        key = rng.choice(list(d))
        d[rng.choice([key.upper(), key + "_", rng.choice(KEYS), "bogus"])] = d.pop(key)
        return json.dumps(d)
    if op == 2:  # an unknown extra key
        d = dict(doc)
        d["extra_%d" % rng.randrange(3)] = 1
        return json.dumps(d)
    path = rng.choice(list(paths(doc)))
    if op == 3:  # retype or weird value
        return replace_at(doc, path, rng.choice(WEIRD_VALUES))
    if op == 4:  # weird number
        return replace_at(doc, path, rng.choice(WEIRD_NUMBERS))
    if op == 5:  # wrap in an array (nesting one level too deep)
        return replace_at(doc, path, "[" + json.dumps(_get(doc, path)) + "]")
    if op == 6:  # truncate or pad an array
        v = _get(doc, path)
        if isinstance(v, list):
            v = v[:rng.randrange(len(v) + 1)] if rng.random() < 0.6 else v + v[:1]
            return replace_at(doc, path, json.dumps(v))
        return replace_at(doc, path, "[]")
    # random JSON value anywhere
    return replace_at(doc, path, random_json(rng))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def mutate_bytes(rng, b):
    b = bytearray(b)
    op = rng.randrange(5)
    if op == 0:  # truncate
        return bytes(b[:rng.randrange(len(b))])
    if op == 1:  # one random byte
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 2:  # one bit
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    elif op == 3:  # a header int32 (k, d, n_iter, max_iter, n_init, n_trace) set to an edge
        off = rng.choice((8, 12, 16, 20, 24, 28))
        v = rng.choice((0, 1, -1, 2, 3, 10000, 10001, 2 ** 31 - 1, -2 ** 31, 65536))
        b[off:off + 4] = struct.pack(">i", v)
    else:  # a float8 of the body set to a special value
        n = (len(b) - 104) // 8
        if n > 0:
            off = 104 + 8 * rng.randrange(n)
            v = rng.choice((float("nan"), float("inf"), -float("inf"), 0.0, -0.0,
                            5e-324, 1e-310, 1e308, -1.0, 1e-300))
            b[off:off + 8] = struct.pack(">d", v)
    return bytes(b)


def copy_escape(s):
    return (s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 20240611
    rng = random.Random(seed)
    rows = []
    shapes = [(c, k, d) for c in COV_TYPES for k, d in ((1, 1), (2, 2), (3, 2), (2, 3))]
    bins = [binary_model(c, k, d, trace=rng.choice((0, 0, 2))) for c, k, d in shapes]
    docs = [json_model(rng, c, k, d) for c, k, d in shapes]

    for b in bins:  # the valid bases themselves
        rows.append(("b", b.hex()))
    for _ in range(700):  # random bytes, half of them behind a valid magic and version
        n = rng.randrange(0, 300)
        b = bytes(rng.randrange(256) for _ in range(n))
        if rng.random() < 0.5:
            b = b"GMMB\x01" + b
        rows.append(("b", b.hex()))
    for _ in range(3000):
        rows.append(("b", mutate_bytes(rng, rng.choice(bins)).hex()))
    for d in docs:
        rows.append(("j", json.dumps(d)))
    for _ in range(2500):
        rows.append(("j", mutate_json(rng, rng.choice(docs))))
    for _ in range(300):
        rows.append(("j", random_json(rng)))
    for _ in range(100):  # not JSON at all, or cut short
        s = json.dumps(rng.choice(docs))
        rows.append(("j", s[:rng.randrange(len(s))] if rng.random() < 0.7 else
                     "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(40)))))
    for i, (kind, payload) in enumerate(rows, 1):
        sys.stdout.write("%d\t%s\t%s\n" % (i, kind, copy_escape(payload)))


if __name__ == "__main__":
    main()
