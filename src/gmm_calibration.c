/*
 * gmm_calibration.c
 *	  The CALIBRATION section of format version 2: the distribution of the
 *	  training rows' log-densities under the model's parameters, and its
 *	  check.  This file is linked by the fuzz harness: no jsonb or fmgr calls
 *	  (the JSON form is in gmm_calibration_json.c).
 *
 * Payload (doubles, src/core/gmm_core.h GMM_CALIB_*): n_rows, sum_weights,
 * min, max, mean, sd, n_knots M (2 .. 4096), then M knots: knot i is the
 * log-density below which a fraction sin^2(pi i / (2 (M - 1))) of the
 * training weight lies, knot 0 the minimum and knot M - 1 the maximum,
 * the distribution linear between knots (src/core/sketch.c).
 */
#include "postgres.h"

#include <math.h>

#include "gmm.h"

static void
CheckCalibration(const GmmModel *m, double *words, uint32 nwords, int struct_code)
{
	bool		structural;
	const char *problem = gmm_calib_check(words, nwords, &structural);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(structural ? struct_code : ERRCODE_DATA_EXCEPTION),
				 errmsg("invalid gmm section \"calibration\": %s", problem)));
}

const GmmSectionKind gmm_section_calibration = {
	GMM_SECTION_CALIBRATION, "calibration", CheckCalibration
};
