/*
 * gmm_score.c
 *	  Row-by-row scoring: gmm_predict, gmm_predict_proba, gmm_score_samples.
 *
 * A scoring call sits in the target list of a query over many rows, with the
 * same model on every row (a constant, a parameter, a scalar subquery, or a
 * column joined from a models table).  The decoded model is kept in
 * fn_extra for the whole query, so a model is detoasted and prepared once,
 * not once per row.  The cache is keyed by the model datum's contents, never
 * by its address alone: an on-disk TOAST pointer is identified by its value
 * id and relation (a TOAST value never changes while it exists), any other
 * datum by its bytes.  A different model on the next row therefore always
 * misses the cache and is decoded afresh.
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "gmm.h"

typedef struct GmmScoreCache
{
	MemoryContext mcxt;			/* holds everything below; reset on a miss */
	/* the key: the raw datum bytes (inline) or the TOAST pointer (on disk) */
	bool		is_toast_ptr;
	struct varatt_external toast;
	struct varlena *raw;
	/* the decoded model */
	GmmModel   *model;
	GmmParams	params;
	double	   *log_weights;	/* k */
	double	   *logprob;		/* k */
	double	   *work;			/* d */
} GmmScoreCache;

static bool
CacheMatches(GmmScoreCache *c, struct varlena *raw)
{
	if (c->model == NULL)
		return false;
	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		struct varatt_external t;

		if (!c->is_toast_ptr)
			return false;
		VARATT_EXTERNAL_GET_POINTER(t, raw);
		return t.va_valueid == c->toast.va_valueid &&
			t.va_toastrelid == c->toast.va_toastrelid &&
			t.va_rawsize == c->toast.va_rawsize;
	}
	if (c->is_toast_ptr)
		return false;
	return VARSIZE_ANY(raw) == VARSIZE_ANY(c->raw) &&
		memcmp(raw, c->raw, VARSIZE_ANY(raw)) == 0;
}

/* the prepared model for argument argno, from the cache or decoded now */
static GmmScoreCache *
GetScoreCache(FunctionCallInfo fcinfo, int argno)
{
	GmmScoreCache *c = (GmmScoreCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	MemoryContext old;
	int			k;
	int			d;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GmmScoreCache));
		c->mcxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "gmm score cache",
										ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	else if (CacheMatches(c, raw))
		return c;

	MemoryContextReset(c->mcxt);
	c->model = NULL;
	old = MemoryContextSwitchTo(c->mcxt);
	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		c->is_toast_ptr = true;
		VARATT_EXTERNAL_GET_POINTER(c->toast, raw);
		c->raw = NULL;
	}
	else
	{
		c->is_toast_ptr = false;
		c->raw = palloc(VARSIZE_ANY(raw));
		memcpy(c->raw, raw, VARSIZE_ANY(raw));
	}
	/* detoast_attr always returns a fresh, aligned copy for extended datums */
	if (VARATT_IS_EXTENDED(raw))
		c->model = (GmmModel *) detoast_attr(raw);
	else
	{
		c->model = palloc(VARSIZE(raw));
		memcpy(c->model, raw, VARSIZE(raw));
	}
	gmm_model_params(c->model, &c->params);
	k = c->params.k;
	d = c->params.d;
	c->log_weights = palloc(sizeof(double) * k);
	for (int j = 0; j < k; j++)
		c->log_weights[j] = log(c->params.weights[j]);
	c->logprob = palloc(sizeof(double) * k);
	c->work = palloc(sizeof(double) * d);
	MemoryContextSwitchTo(old);
	return c;
}

/* the cache, and row's log-sum-exp with per-component terms in c->logprob */
static double
ScoreRow(FunctionCallInfo fcinfo, GmmScoreCache **cp)
{
	GmmScoreCache *c = GetScoreCache(fcinfo, 0);
	ArrayType  *x = PG_GETARG_ARRAYTYPE_P(1);
	const double *v = gmm_array_row(x, c->params.d, "the model", NULL, NULL);

	*cp = c;
	return gmm_row_log_prob(&c->params, c->log_weights, v, c->logprob, c->work);
}

PG_FUNCTION_INFO_V1(gmm_score_samples);
Datum
gmm_score_samples(PG_FUNCTION_ARGS)
{
	GmmScoreCache *c;

	PG_RETURN_FLOAT8(ScoreRow(fcinfo, &c));
}

PG_FUNCTION_INFO_V1(gmm_predict);
Datum
gmm_predict(PG_FUNCTION_ARGS)
{
	GmmScoreCache *c;
	double		lse = ScoreRow(fcinfo, &c);

	PG_RETURN_INT32(gmm_row_responsibilities(c->params.k, c->logprob, lse));
}

PG_FUNCTION_INFO_V1(gmm_predict_proba);
Datum
gmm_predict_proba(PG_FUNCTION_ARGS)
{
	GmmScoreCache *c;
	double		lse = ScoreRow(fcinfo, &c);
	int			k = c->params.k;
	ArrayType  *result;
	Datum	   *elems;

	gmm_row_responsibilities(k, c->logprob, lse);
	elems = palloc(sizeof(Datum) * k);
	for (int j = 0; j < k; j++)
		elems[j] = Float8GetDatum(c->logprob[j]);
	result = construct_array(elems, k, FLOAT8OID, sizeof(float8),
							 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	PG_RETURN_ARRAYTYPE_P(result);
}
