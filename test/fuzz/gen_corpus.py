#!/usr/bin/python3
"""Write the seed corpus of the fuzz harness: valid models in the binary format.

    /usr/bin/python3 test/fuzz/gen_corpus.py test/fuzz/corpus

One small, deterministic file per covariance type and shape (with and without
a bic_trace), in the format gmm_binary.c documents (big-endian, 104-byte
header), and version-2 models with sections (n_missing, bayesian).  `make fuzz-corpus` regenerates them; the files are committed.
"""
import os
import struct
import sys

MAGIC = 0x474D4D42
COV_TYPES = {"full": 0, "tied": 1, "diag": 2, "spherical": 3}


def spd(d, scale, off):
    """A d x d symmetric positive definite matrix, row-major."""
    return [scale * (2.0 if i == j else 0.0) + (off if i != j else 0.0)
            for i in range(d) for j in range(d)]


def model(cov_type, k, d, trace=0, flags=1):
    weights = [1.0 / k] * k
    means = [float(j * d + i) * 0.5 - 1.0 for j in range(k) for i in range(d)]
    if cov_type == "full":
        cov = [x for j in range(k) for x in spd(d, 1.0 + j, 0.25)]
    elif cov_type == "tied":
        cov = spd(d, 1.5, -0.5)
    elif cov_type == "diag":
        cov = [0.5 + 0.25 * (j + i) for j in range(k) for i in range(d)]
    else:
        cov = [1.0 + j for j in range(k)]
    out = struct.pack(">IBBBBiiiiiiqqdddddqq", MAGIC, 1, COV_TYPES[cov_type],
                      0, flags, k, d, 7, 100, 1, trace, 50, 42, 50.0,
                      -1.25, -1.2, 1e-3, 1e-6, 0, 0)
    out += struct.pack(">%dd" % len(weights + means + cov),
                       *(weights + means + cov))
    for t in range(trace):
        out += struct.pack(">id", t + 1, 100.0 - t)
    return out


def model_v2(cov_type, k, d, sections, rng=0):
    """A version-2 model: version 1's bytes with version 2 in byte 4 and rng in byte 88,
    then the sections, each (tag, [doubles])."""
    out = bytearray(model(cov_type, k, d))
    out[4] = 2
    out[88] = rng
    out += struct.pack(">I", len(sections))
    for tag, words in sections:
        out += struct.pack(">HHI%dd" % len(words), tag, 0, len(words), *words)
    return bytes(out)


def bayes_words(cov_type, k, d, prior_type):
    """A valid payload of the "bayesian" section (3): the layout of src/gmm_bayes.c."""
    cps = {"full": d * d, "tied": d * d, "diag": d, "spherical": 1}[cov_type]
    cov_prior = spd(d, 1.0, 0.25) if cov_type in ("full", "tied") else [1.5] * cps
    wc = [1.0 + 10 * j for j in range(k)]
    wc += [0.5 + j for j in range(k)] if prior_type == 0 else [0.0] * k
    dof = [d + 5.0] * k if cov_type == "tied" else [d + 1.0 + j for j in range(k)]
    return ([float(prior_type), 1.0 / k, 1.0, float(d)] + [0.25 * i for i in range(d)]
            + cov_prior + wc + [1.0 + 10 * j for j in range(k)] + dof)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    seeds = {}
    for cov_type in COV_TYPES:
        for k, d in ((1, 1), (2, 2), (3, 2), (2, 3)):
            seeds["%s_k%d_d%d" % (cov_type, k, d)] = model(cov_type, k, d)
        seeds["%s_k2_d2_trace" % cov_type] = model(cov_type, 2, 2, trace=3)
    seeds["full_k1_d1_notconverged"] = model("full", 1, 1, flags=0)
    # format version 2: the MISSING section (1), the rng field, no section at all
    seeds["v2_full_k2_d2_missing"] = model_v2("full", 2, 2, [(1, [7.0])])
    seeds["v2_diag_k3_d2_missing_rng"] = model_v2("diag", 3, 2, [(1, [3.0])], rng=1)
    seeds["v2_spherical_k2_d3_rng"] = model_v2("spherical", 2, 3, [], rng=1)
    # the "bayesian" section (3): both weight priors, every covariance type
    seeds["v2_full_k2_d2_bayes_dp"] = model_v2("full", 2, 2, [(3, bayes_words("full", 2, 2, 0))])
    seeds["v2_tied_k2_d3_bayes_dp"] = model_v2("tied", 2, 3, [(3, bayes_words("tied", 2, 3, 0))])
    seeds["v2_diag_k3_d2_bayes_dd"] = model_v2("diag", 3, 2, [(3, bayes_words("diag", 3, 2, 1))])
    seeds["v2_spherical_k2_d2_missing_bayes_dd"] = model_v2(
        "spherical", 2, 2, [(1, [4.0]), (3, bayes_words("spherical", 2, 2, 1))])
    # the CALIBRATION section (2): n_rows, sum_weights, min, max, mean, sd, n_knots, knots
    # (arcsine-spaced quantiles, from min to max); alone, after MISSING, and with 2 knots
    knots = [-9.0 + 6.0 * i / 16 for i in range(17)]
    calib = [500.0, 500.0, -9.0, -3.0, -5.5, 1.25, 17.0] + knots
    seeds["v2_full_k2_d2_calibration"] = model_v2("full", 2, 2, [(2, calib)])
    seeds["v2_tied_k2_d2_missing_calibration"] = model_v2("tied", 2, 2, [(1, [2.0]), (2, calib)])
    seeds["v2_diag_k1_d1_calibration2"] = model_v2(
        "diag", 1, 1, [(2, [3.0, 4.5, -2.0, 0.0, -1.0, 0.5, 2.0, -2.0, 0.0])], rng=1)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
