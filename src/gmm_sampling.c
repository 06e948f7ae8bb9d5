/*
 * gmm_sampling.c
 *	  gmm_sample(model, n, random_state): draw rows from a mixture.
 *
 * Rows are drawn in chunks of SAMPLE_CHUNK, chunk c from the generator seeded
 * with (random_state, c), straight into the function's tuplestore (which
 * spills to disk past work_mem), so memory stays bounded for any n and the
 * first m rows of a draw of n > m rows equal a draw of m rows.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/tuplestore.h"

#include "gmm.h"

#define SAMPLE_CHUNK 4096

PG_FUNCTION_INFO_V1(gmm_sample_rows);
Datum
gmm_sample_rows(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);
	int64		n = PG_GETARG_INT64(1);
	int64		seed = PG_GETARG_INT64(2);
	ReturnSetInfo *rsinfo;
	GmmParams	p;
	double	   *X;
	int		   *labels;
	double	   *work;
	Datum	   *elems;
	int			d;

	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of rows to draw must not be negative, not " INT64_FORMAT, n)));
	if (seed < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random_state must not be negative, not " INT64_FORMAT, seed)));

	rsinfo = gmm_srf_materialize(fcinfo);
	gmm_model_params(m, &p);
	d = p.d;
	X = palloc(sizeof(double) * SAMPLE_CHUNK * d);
	labels = palloc(sizeof(int) * SAMPLE_CHUNK);
	work = palloc(sizeof(double) * gmm_sample_work_ndoubles(p.cov_type, p.k, d));
	elems = palloc(sizeof(Datum) * d);

	for (int64 done = 0, chunk = 0; done < n; chunk++)
	{
		int			rows = (int) Min((int64) SAMPLE_CHUNK, n - done);
		/* distinct seeds per chunk; the core mixes them through splitmix64 */
		uint64		chunk_seed = (uint64) seed + (uint64) chunk * UINT64CONST(0x9E3779B97F4A7C15);

		CHECK_FOR_INTERRUPTS();
		if (gmm_sample(&p, rows, chunk_seed, X, labels, work) != GMM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("a covariance of the model is not positive definite")));
		for (int i = 0; i < rows; i++)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};

			for (int j = 0; j < d; j++)
				elems[j] = Float8GetDatum(X[(size_t) i * d + j]);
			values[0] = PointerGetDatum(construct_array(elems, d, FLOAT8OID,
														sizeof(float8), FLOAT8PASSBYVAL,
														TYPALIGN_DOUBLE));
			values[1] = Int32GetDatum(labels[i]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			pfree(DatumGetPointer(values[0]));
		}
		done += rows;
	}
	return (Datum) 0;
}
