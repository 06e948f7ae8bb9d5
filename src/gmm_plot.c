/*
 * gmm_plot.c
 *	  Rows a chart can draw: gmm_ellipses (each component's confidence
 *	  ellipse over two features) and gmm_bic_trace (the BIC of every K that
 *	  gmm_fit_auto tried).  The geometry is in the core (plot.c).
 *
 * Components are numbered from 0, as in gmm_components and gmm_predict.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/tuplestore.h"

#include "gmm.h"

#define GMM_ELLIPSE_MAX_POINTS 100000

/* The two 1-based feature positions of features[], checked against d. */
static void
EllipseFeatures(ArrayType *a, int d, int *f1, int *f2)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			pos[2];

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(a)),
				 errhint("Give two feature positions, for example '{1,2}'.")));
	deconstruct_array(a, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must list exactly 2 feature positions"),
				 errdetail_plural("The array has %d element.",
								  "The array has %d elements.", n, n),
				 errhint("An ellipse is drawn in the plane of two features, for example '{1,2}'.")));
	for (int i = 0; i < 2; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("features must not contain NULL"),
					 errhint("Give two feature positions, for example '{1,2}'.")));
		pos[i] = DatumGetInt32(elems[i]);
		if (pos[i] < 1 || pos[i] > d)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("feature position %d is out of range", pos[i]),
					 errdetail_plural("The model has %d feature.",
									   "The model has %d features.", d, d),
					 errhint("Feature positions are 1-based: from 1 to %d.", d)));
	}
	if (pos[0] == pos[1])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be two different positions"),
				 errdetail("Both are %d.", pos[0]),
				 errhint("A feature against itself has no ellipse; pick two different features.")));
	*f1 = pos[0] - 1;
	*f2 = pos[1] - 1;
}

/*
 * gmm_ellipses(model, features, confidence, n_points): per component, the
 * n_points + 1 points (the last equal to the first) of the ellipse holding
 * the share confidence of the component's mass in the plane of the two
 * features: its marginal over them is a 2-D Gaussian, whose squared
 * Mahalanobis distance is chi-square with 2 degrees of freedom, of quantile
 * -2 ln(1 - confidence).
 */
PG_FUNCTION_INFO_V1(gmm_ellipses);
Datum
gmm_ellipses(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);
	ArrayType  *features = PG_GETARG_ARRAYTYPE_P(1);
	double		confidence = PG_GETARG_FLOAT8(2);
	int32		n_points = PG_GETARG_INT32(3);
	ReturnSetInfo *rsinfo;
	GmmParams	p;
	int			f1,
				f2;
	double		r2;
	double	   *xy;

	gmm_model_params(m, &p);
	EllipseFeatures(features, p.d, &f1, &f2);
	if (!(confidence > 0.0 && confidence < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confidence must be between 0 and 1 (exclusive), not %s",
						float8out_internal(confidence)),
				 errhint("It is the share of a component's mass inside its ellipse, for example 0.95.")));
	if (n_points < 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_points must be at least 3, not %d", n_points),
				 errhint("It is the number of segments of each outline; 64 draws a smooth ellipse.")));
	if (n_points > GMM_ELLIPSE_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("n_points must be at most %d, not %d",
						GMM_ELLIPSE_MAX_POINTS, n_points),
				 errhint("A chart cannot show more; 64 already draws a smooth ellipse.")));
	/* log1p keeps the quantile accurate for a confidence near 0 */
	r2 = -2.0 * log1p(-confidence);

	rsinfo = gmm_srf_materialize(fcinfo);
	xy = palloc(sizeof(double) * 2 * ((size_t) n_points + 1));
	for (int j = 0; j < p.k; j++)
	{
		double		mean[2],
					cov[4];

		CHECK_FOR_INTERRUPTS();
		mean[0] = p.means[(size_t) j * p.d + f1];
		mean[1] = p.means[(size_t) j * p.d + f2];
		gmm_marginal_cov2(&p, j, f1, f2, cov);
		if (gmm_ellipse_outline(mean, cov, r2, n_points, xy) != GMM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the covariance of component %d over features %d and %d is not positive definite",
							j, f1 + 1, f2 + 1),
					 errdetail("Its marginal covariance is [[%s, %s], [%s, %s]].",
							   float8out_internal(cov[0]), float8out_internal(cov[1]),
							   float8out_internal(cov[2]), float8out_internal(cov[3]))));
		for (int i = 0; i <= n_points; i++)
		{
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			values[0] = Int32GetDatum(j);
			values[1] = Int32GetDatum(i);
			values[2] = Float8GetDatum(xy[2 * i]);
			values[3] = Float8GetDatum(xy[2 * i + 1]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	pfree(xy);
	return (Datum) 0;
}

/*
 * gmm_bic_trace(model): the (n_components, bic) pairs gmm_fit_auto recorded,
 * in the order it tried them; no rows for a model without a trace.
 */
PG_FUNCTION_INFO_V1(gmm_bic_trace);
Datum
gmm_bic_trace(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);
	ReturnSetInfo *rsinfo = gmm_srf_materialize(fcinfo);
	const double *trace = gmm_model_trace(m);

	for (int t = 0; t < m->n_trace; t++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		/* integral and within 1 .. GMM_MAX_COMPONENTS (gmm_model_finish) */
		values[0] = Int32GetDatum((int32) trace[2 * t]);
		values[1] = Float8GetDatum(trace[2 * t + 1]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
