/*
 * gmm_calibration_json.c
 *	  The text form of the CALIBRATION section (gmm_calibration.c):
 *
 *	  "calibration": {"n_rows": N, "sum_weights": W, "min": a, "max": b,
 *					  "mean": m, "sd": s, "quantiles": [a, ..., b]}
 *
 * "quantiles" holds the M knots (the probabilities are implicit:
 * sin^2(pi i / (2 (M - 1))), i = 0 .. M - 1).
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "gmm.h"

static const char *const calib_keys[] = {
	"n_rows", "sum_weights", "min", "max", "mean", "sd", "quantiles"
};

void
gmm_calibration_to_json(StringInfo buf, const GmmModel *m, const double *w,
						uint32 nwords)
{
	appendStringInfo(buf, "{\"n_rows\": " INT64_FORMAT ", \"sum_weights\": ",
					 (int64) w[GMM_CALIB_N_ROWS]);
	gmm_json_append_double(buf, w[GMM_CALIB_SUM_W]);
	appendStringInfoString(buf, ", \"min\": ");
	gmm_json_append_double(buf, w[GMM_CALIB_MIN]);
	appendStringInfoString(buf, ", \"max\": ");
	gmm_json_append_double(buf, w[GMM_CALIB_MAX]);
	appendStringInfoString(buf, ", \"mean\": ");
	gmm_json_append_double(buf, w[GMM_CALIB_MEAN]);
	appendStringInfoString(buf, ", \"sd\": ");
	gmm_json_append_double(buf, w[GMM_CALIB_SD]);
	appendStringInfoString(buf, ", \"quantiles\": ");
	gmm_json_append_vector(buf, w + GMM_CALIB_HEADER, (int) w[GMM_CALIB_N_KNOTS]);
	appendStringInfoChar(buf, '}');
}

double *
gmm_calibration_from_json(const JsonbValue *v, const GmmModel *m, uint32 *nwords)
{
	JsonbValue	vals[lengthof(calib_keys)];
	bool		present[lengthof(calib_keys)];
	double	   *w;
	int			nk;

	gmm_json_object(v, "calibration", calib_keys, lengthof(calib_keys), vals, present);
	for (int i = 0; i < lengthof(calib_keys); i++)
		if (!present[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("\"calibration\" is missing key \"%s\"", calib_keys[i])));
	nk = gmm_json_array_length(&vals[6], "calibration.quantiles");
	if (nk < 2 || nk > GMM_CALIB_MAX_KNOTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("\"calibration.quantiles\" must have between 2 and %d values, not %d",
						GMM_CALIB_MAX_KNOTS, nk)));
	w = palloc(sizeof(double) * (GMM_CALIB_HEADER + nk));
	w[GMM_CALIB_N_ROWS] = (double) gmm_json_integer(&vals[0], "calibration", "n_rows", 1,
													INT64CONST(9007199254740992));
	for (int i = 1; i < 6; i++)
		w[i] = gmm_json_number(&vals[i], "calibration", calib_keys[i]);
	w[GMM_CALIB_N_KNOTS] = nk;
	gmm_json_number_array(&vals[6], "calibration.quantiles", 1, &nk,
						  (const char *const[]) {"n_knots"}, w + GMM_CALIB_HEADER);
	*nwords = GMM_CALIB_HEADER + nk;
	return w;
}
