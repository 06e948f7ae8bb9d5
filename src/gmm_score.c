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
 * misses the cache and is decoded afresh.  Comparing bytes costs a memcmp
 * of the model per row, which matters for large models held in memory; when
 * the argument is a Const of the plan (a literal, or a parameter that the
 * planner substituted, as custom plans do), or an external Param of a plan
 * being executed (a generic plan's $1, a PL/pgSQL variable in a query), its
 * value cannot change while the cache exists, so the datum's address
 * identifies it and no comparison is needed (gmm_arg_is_fixed).
 *
 * A scoring aggregate's transition function is usually called through one
 * FmgrInfo for the whole query, but Citus's worker_partial_agg calls it
 * through a fresh one on every row (without a call expression), so fn_extra
 * starts empty each time.  Such calls keep their decoded models in the
 * aggregate's memory context instead, a few per backend, found by the same
 * content keys (the raw, still compressed bytes or the TOAST pointer): a
 * row then costs a comparison of the raw datum, not a decompression.
 *
 * Rows with NULL elements (float8[] only: NaN in the packed row, see
 * gmm_array_row_nulls) are scored by the mixture's marginal over their
 * observed features; a row of NULLs only scores NULL, and the aggregates
 * skip it.  Diagonal and spherical models just leave the missing terms out.
 * For full and tied models, each call site keeps its GMM_MISSING_PATTERNS
 * most recent missingness patterns (least recently used goes first): a
 * pattern's first rows are scored through the Schur complement of each
 * precision over its missing features (gmm_row_log_prob_missing: an m x m
 * factor per component and row, m the number of missing features, with the
 * model's precisions, as large as its covariances, computed once per call
 * site); from its GMM_MISSING_BUILD_ROWS-th row on, the pattern's marginal
 * model (the Cholesky factor of each component's observed block, as
 * prec_chol) is built once and kept, and its rows are scored by
 * gmm_row_log_prob on the packed observed values, which costs no more than
 * a complete row.  A marginal model is kept only when it takes at most
 * GMM_MISSING_PATTERN_BYTES, so the patterns of one call site hold at most
 * 16 x 1 MB; larger ones stay on the Schur route.  Measured
 * with test/bench/missing_kernel (16 features, 8 components, 3 of 16
 * missing): see the README's "Missing values" section.
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pg_list.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "gmm.h"
#include "gmm_compat.h"
#include "gmm_row.h"

/* the missingness patterns a call site keeps, and the cap of each one's marginal */
#define GMM_MISSING_PATTERNS 16
#define GMM_MISSING_PATTERN_BYTES (1024 * 1024)
/*
 * rows of a pattern, while it is among the kept ones, before its marginal
 * is built: building costs about as much as scoring 20 rows the Schur way
 * (16 features, 8 components), and patterns drawn at random, which recur
 * among the last 16 now and then, should not pay it
 */
#define GMM_MISSING_BUILD_ROWS 8

typedef struct GmmMissingPattern
{
	bits8	   *mask;			/* d bits, set where missing; NULL: free slot */
	int64		rows;			/* rows seen with this pattern */
	int			n_obs;
	int		   *obs;			/* n_obs observed positions, once built */
	GmmParams	marg;			/* the marginal over obs, when built */
	const double *marg_lanes;	/* its gmm_score_lanes (or NULL) */
	GmmRowLogProbFn marg_fn;	/* its gmm_row_log_prob_lanes_fn */
	double	   *marg_buf;		/* its doubles and lanes, NULL until built */
	bool		too_big;		/* the marginal exceeds the cap: never built */
} GmmMissingPattern;

typedef struct GmmScoreCache
{
	MemoryContext mcxt;			/* holds everything below; reset on a miss
								 * (a shared cache: holds the struct too) */
	Pointer		const_ptr;		/* the fixed argument's value the cache was
								 * built from (gmm_arg_is_fixed), or NULL */
	/* the key: the raw datum bytes (inline) or the TOAST pointer (on disk) */
	bool		is_toast_ptr;
	struct varatt_external toast;
	struct varlena *raw;
	/* the decoded model */
	GmmModel   *model;
	GmmParams	params;
	double	   *log_weights;	/* k */
	double	   *logprob;		/* k */
	double	   *work;			/* gmm_score_lanes_work_ndoubles(d) */
	const double *lanes;		/* gmm_score_lanes of params (or NULL) */
	GmmRowLogProbFn row_fn;		/* gmm_row_log_prob_lanes_fn of params, lanes */
	bool		bayesian;		/* gmm_model_is_bayesian(model) */
	/* rows with missing values (allocated on the first such row) */
	double	   *mwork;			/* gmm_missing_work_ndoubles(.., mwork_m) */
	int			mwork_m;
	double	   *packed;			/* d: a row's observed values */
	double	   *prec;			/* full, tied: the precisions (gmm_precisions) */
	bits8	   *mask;			/* d bits: the current row's pattern */
	GmmArrayBuffers *rowbuf;	/* gmm_array_read_buffered's (first row) */
	int			marg_max_obs;	/* the most observed features a kept
								 * marginal may have (its size cap) */
	uint64		clock;
	/* the patterns' mask hashes and last rows (the cache's clock), packed */
	uint32		pat_hash[GMM_MISSING_PATTERNS];
	uint64		pat_used[GMM_MISSING_PATTERNS];
	GmmMissingPattern patterns[GMM_MISSING_PATTERNS];
	/* gmm_anomaly.c's per-model data and workspace (on first use) */
	double	   *anomaly;
	size_t		anomaly_n;
	MemoryContextCallback gone; /* a shared cache: clears its slot */
} GmmScoreCache;

/*
 * Caches of transition calls without a call expression (see above), each
 * in its own child of an aggregate's memory context; a slot is cleared when
 * its context goes, with the aggregate's.
 */
#define GMM_SHARED_SCORE_CACHES 8
static GmmScoreCache *shared_caches[GMM_SHARED_SCORE_CACHES];
static int	shared_next = 0;

/*
 * The query contexts (es_query_cxt) of the plans started by ExecutorStart
 * and not yet freed, each registered by an ExecutorStart hook and dropped by
 * a reset callback of the context itself (FreeExecutorState deletes it,
 * also on error), so a context here is always a live plan's.  A function
 * call or aggregate of a plan gets its FmgrInfo in that plan's query
 * context; an expression evaluated outside any plan does not (PL/pgSQL's
 * simple expressions keep their expression state in an executor state of
 * their own, for the whole transaction, with variables that change between
 * evaluations).  Walked only when a cache is filled, not per row.
 */
typedef struct GmmPlanCxt
{
	MemoryContext cxt;
	struct GmmPlanCxt *prev;
	struct GmmPlanCxt *next;
	MemoryContextCallback gone;
} GmmPlanCxt;

static GmmPlanCxt *plan_cxts = NULL;
static ExecutorStart_hook_type prev_executor_start = NULL;

static void
PlanCxtGone(void *arg)
{
	GmmPlanCxt *p = (GmmPlanCxt *) arg;

	if (p->prev)
		p->prev->next = p->next;
	else
		plan_cxts = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void
GmmExecutorStart(QueryDesc *queryDesc, int eflags)
{
	GmmPlanCxt *p;

	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (queryDesc->estate == NULL)
		return;
	p = MemoryContextAlloc(queryDesc->estate->es_query_cxt, sizeof(GmmPlanCxt));
	p->cxt = queryDesc->estate->es_query_cxt;
	p->prev = NULL;
	p->next = plan_cxts;
	if (plan_cxts)
		plan_cxts->prev = p;
	plan_cxts = p;
	p->gone.func = PlanCxtGone;
	p->gone.arg = p;
	MemoryContextRegisterResetCallback(p->cxt, &p->gone);
}

/* _PG_init: register the plans' query contexts from now on */
void
gmm_score_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = GmmExecutorStart;
}

static bool
IsPlanContext(MemoryContext cxt)
{
	for (GmmPlanCxt *p = plan_cxts; p != NULL; p = p->next)
		if (p->cxt == cxt)
			return true;
	return false;
}

/*
 * Whether the datum of argument argno (numbered as in fcinfo) keeps its
 * value for as long as this FmgrInfo exists, so that its address identifies
 * it, for a function call or an aggregate's transition function (whose
 * argument 0 is the state).  That holds for a non-NULL Const of the plan,
 * whose value cannot change while the plan exists, and for an external
 * Param (PREPARE's $1 in a generic plan, a PL/pgSQL variable in a query)
 * when the FmgrInfo belongs to a plan being executed: PostgreSQL keeps a
 * query's parameter values for the whole execution (a cursor's portal has
 * its own copy), and the plan's FmgrInfos go with it.  Any other datum's
 * address may be reused for another value (a row's, or a PL/pgSQL simple
 * expression's variable, evaluated again in the same expression state after
 * an assignment freed its old value).
 */
bool
gmm_arg_is_fixed(FunctionCallInfo fcinfo, int argno)
{
	Node	   *expr = fcinfo->flinfo->fn_expr;
	Aggref	   *aggref;
	Node	   *arg;

	if (fcinfo->args[argno].isnull)
		return false;

	/*
	 * A transition function's fn_expr is a stand-in with Params for the
	 * arguments; the Aggref has the real ones, after the state's place.
	 */
	if (AggCheckCallContext(fcinfo, NULL) == AGG_CONTEXT_AGGREGATE &&
		(aggref = AggGetAggref(fcinfo)) != NULL)
	{
		/*
		 * Only nodeAgg's own call has the Aggref's arguments: a call without
		 * a call expression comes through another function, such as Citus's
		 * worker_partial_agg, whose Aggref is not ours.
		 */
		if (expr == NULL || argno < 1 ||
			list_length(aggref->args) != fcinfo->nargs - 1)
			return false;
		arg = (Node *) ((TargetEntry *) list_nth(aggref->args, argno - 1))->expr;
		if (exprType(arg) != get_fn_expr_argtype(fcinfo->flinfo, argno))
			return false;
	}
	else if (expr != NULL && IsA(expr, FuncExpr))
	{
		List	   *args = ((FuncExpr *) expr)->args;

		if (argno >= list_length(args))
			return false;
		arg = (Node *) list_nth(args, argno);
	}
	else
		return false;
	if (IsA(arg, Const))
		return !((Const *) arg)->constisnull && !((Const *) arg)->constbyval &&
			DatumGetPointer(((Const *) arg)->constvalue) ==
			DatumGetPointer(fcinfo->args[argno].value);
	return IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN &&
		IsPlanContext(fcinfo->flinfo->fn_mcxt);
}

static bool
CacheMatches(GmmScoreCache *c, struct varlena *raw)
{
	if (c->model == NULL)
		return false;
	if (c->const_ptr != NULL && (Pointer) raw == c->const_ptr)
		return true;
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

/*
 * p's scoring lanes (gmm_score_lanes), from a cache line on, in the current
 * memory context; NULL for a model that has none
 */
static const double *
ScoreLanes(const GmmParams *p)
{
	size_t		n = gmm_score_lanes_ndoubles(p->cov_type, p->k, p->d);
	double	   *lanes;

	if (n == 0)
		return NULL;
	lanes = (double *) TYPEALIGN(64, palloc(sizeof(double) * (n + 8)));
	gmm_score_lanes(p, lanes);
	return lanes;
}

/* decode raw into c (whose context is empty) and key c by raw */
static void
FillCache(GmmScoreCache *c, struct varlena *raw)
{
	MemoryContext old = MemoryContextSwitchTo(c->mcxt);
	int			k;
	int			d;

	/* the missing-value state of a previous model went with the context */
	c->mwork = NULL;
	c->mwork_m = 0;
	c->packed = NULL;
	c->prec = NULL;
	c->mask = NULL;
	c->rowbuf = NULL;
	c->clock = 0;
	memset(c->patterns, 0, sizeof(c->patterns));
	memset(c->pat_hash, 0, sizeof(c->pat_hash));
	memset(c->pat_used, 0, sizeof(c->pat_used));
	c->anomaly = NULL;
	c->anomaly_n = 0;

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
	gmm_model_log_weights(c->model, c->log_weights);
	c->logprob = palloc(sizeof(double) * k);
	c->work = palloc(sizeof(double) * gmm_score_lanes_work_ndoubles(d));
	c->lanes = ScoreLanes(&c->params);
	c->row_fn = gmm_row_log_prob_lanes_fn(&c->params, c->lanes);
	c->bayesian = gmm_model_is_bayesian(c->model);
	MemoryContextSwitchTo(old);
}

static void
SharedCacheGone(void *arg)
{
	for (int i = 0; i < GMM_SHARED_SCORE_CACHES; i++)
		if (shared_caches[i] == (GmmScoreCache *) arg)
			shared_caches[i] = NULL;
}

/* a shared cache for raw, found by content or made in aggctx */
static GmmScoreCache *
GetSharedCache(MemoryContext aggctx, struct varlena *raw)
{
	GmmScoreCache *c;
	MemoryContext mcxt;
	int			slot;

	for (int i = 0; i < GMM_SHARED_SCORE_CACHES; i++)
		if (shared_caches[i] != NULL && CacheMatches(shared_caches[i], raw))
			return shared_caches[i];

	slot = shared_next;
	shared_next = (shared_next + 1) % GMM_SHARED_SCORE_CACHES;
	if (shared_caches[slot] != NULL)
		MemoryContextDelete(shared_caches[slot]->mcxt);	/* clears the slot */
	mcxt = AllocSetContextCreate(aggctx, "gmm shared score cache",
								 ALLOCSET_SMALL_SIZES);
	c = MemoryContextAllocZero(mcxt, sizeof(GmmScoreCache));
	c->mcxt = mcxt;
	FillCache(c, raw);
	c->gone.func = SharedCacheGone;
	c->gone.arg = c;
	MemoryContextRegisterResetCallback(mcxt, &c->gone);
	shared_caches[slot] = c;
	return c;
}

/* the prepared model for argument argno, from the cache or decoded now */
static GmmScoreCache *
GetScoreCache(FunctionCallInfo fcinfo, int argno)
{
	GmmScoreCache *c = (GmmScoreCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	MemoryContext aggctx;

	if (c == NULL)
	{
		/* a fresh FmgrInfo per row: Citus's worker_partial_agg */
		if (fcinfo->flinfo->fn_expr == NULL &&
			AggCheckCallContext(fcinfo, &aggctx) != 0)
			return GetSharedCache(aggctx, raw);
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GmmScoreCache));
		c->mcxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "gmm score cache",
										ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	else if (CacheMatches(c, raw))
		return c;

	MemoryContextReset(c->mcxt);
	c->model = NULL;
	c->const_ptr = gmm_arg_is_fixed(fcinfo, argno) ? (Pointer) raw : NULL;
	FillCache(c, raw);
	return c;
}

/*
 * The prepared model of argument argno from this function's cache (see the
 * top of the file), for the scoring functions of other files
 * (gmm_anomaly.c): valid until the next call.
 */
void
gmm_score_prepared(FunctionCallInfo fcinfo, int argno, GmmPrepared *out)
{
	GmmScoreCache *c = GetScoreCache(fcinfo, argno);

	out->model = c->model;
	out->params = c->params;
	out->log_weights = c->log_weights;
	out->logprob = c->logprob;
	out->work = c->work;
	out->lanes = c->lanes;
	out->row_fn = c->row_fn;
	out->cache = c;
}

/*
 * n doubles of the prepared model's cache for its caller's use (gmm_anomaly.c:
 * per-model data, then workspace), kept while the cache holds this model;
 * *fresh is set when they were allocated now (to be prepared), so a row
 * costs no allocation after the first.
 */
double *
gmm_prepared_buffer(const GmmPrepared *p, size_t n, bool *fresh)
{
	GmmScoreCache *c = (GmmScoreCache *) p->cache;

	*fresh = false;
	if (c->anomaly == NULL || c->anomaly_n < n)
	{
		if (c->anomaly)
			pfree(c->anomaly);
		c->anomaly = NULL;
		c->anomaly = MemoryContextAllocHuge(c->mcxt, sizeof(double) * n);
		c->anomaly_n = n;
		*fresh = true;
	}
	return c->anomaly;
}


/* the missing-value workspace of c for rows with up to m missing features */
static double *
MissingWork(GmmScoreCache *c, int m)
{
	if (c->mwork == NULL || m > c->mwork_m)
	{
		/* grow to at least twice the last size, so that rows do not reallocate often */
		int			want = Min(c->params.d, Max(m, 2 * c->mwork_m));

		if (c->mwork)
			pfree(c->mwork);
		c->mwork = MemoryContextAlloc(c->mcxt, sizeof(double) *
									  gmm_missing_work_ndoubles(c->params.cov_type,
																c->params.k,
																c->params.d, want));
		c->mwork_m = want;
	}
	return c->mwork;
}

/* a few bytes compared in place (memcmp is a call) */
static inline bool
MasksEqual(const bits8 *a, const bits8 *b, int nbytes)
{
	bits8		diff = 0;

	for (int i = 0; i < nbytes; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/*
 * The pattern of row v (m missing features) among c's patterns, found by
 * its mask or made in the least recently used slot.  A row of a new
 * pattern costs the mask and the search only: the observed positions are
 * listed when the pattern's marginal is built.
 */
static GmmMissingPattern *
FindPattern(GmmScoreCache *c, const double *v, int m, const bits8 *given)
{
	int			d = c->params.d;
	int			nbytes = (d + 7) / 8;
	uint32		h = 2166136261u;
	GmmMissingPattern *pat;
	int			lru = 0;

	if (c->mask == NULL)
	{
		c->mask = MemoryContextAlloc(c->mcxt, nbytes);
		c->packed = MemoryContextAlloc(c->mcxt, sizeof(double) * d);
		c->marg_max_obs = d;
		while (c->marg_max_obs > 0 &&
			   (double) (gmm_params_ndoubles(c->params.cov_type, c->params.k,
											 c->marg_max_obs) +
						 gmm_score_lanes_ndoubles(c->params.cov_type, c->params.k,
												  c->marg_max_obs)) * sizeof(double) >
			   GMM_MISSING_PATTERN_BYTES)
			c->marg_max_obs--;
	}
	/*
	 * the reader's mask (its NULL bitmap), or one from the NaNs: no branches
	 * on the data (at random, which features are missing is unpredictable),
	 * and each byte built in a register before it is stored
	 */
	if (given)
		memcpy(c->mask, given, nbytes);
	else
		for (int b = 0; b < nbytes; b++)
		{
			unsigned int byte = 0;

			for (int t = b * 8; t < Min(d, b * 8 + 8); t++)
				byte |= (isnan(v[t]) ? 1u : 0u) << (t % 8);
			c->mask[b] = (bits8) byte;
		}
	for (int b = 0; b < nbytes; b++)
		h = (h ^ c->mask[b]) * 16777619u;
	c->clock++;
	for (int i = 0; i < GMM_MISSING_PATTERNS; i++)
	{
		pat = &c->patterns[i];
		if (c->pat_hash[i] == h && pat->mask != NULL &&
			MasksEqual(pat->mask, c->mask, nbytes))
		{
			c->pat_used[i] = c->clock;
			pat->rows++;
			return pat;
		}
	}
	/*
	 * a free slot has never been used: pat_used 0.  The least one without
	 * branches: where it is among the slots is random when the rows are.
	 */
	{
		uint64		least = c->pat_used[0];

		for (int i = 1; i < GMM_MISSING_PATTERNS; i++)
		{
			uint64		u = c->pat_used[i];
			bool		lt = u < least;

			least = lt ? u : least;
			lru = lt ? i : lru;
		}
	}
	/* the slot keeps its mask and position buffers (d bits, d ints) */
	pat = &c->patterns[lru];
	if (pat->mask == NULL)
	{
		pat->mask = MemoryContextAlloc(c->mcxt, nbytes);
		pat->obs = MemoryContextAlloc(c->mcxt, sizeof(int) * d);
	}
	if (pat->marg_buf)
		pfree(pat->marg_buf);
	pat->marg_buf = NULL;
	c->pat_hash[lru] = h;
	memcpy(pat->mask, c->mask, nbytes);
	c->pat_used[lru] = c->clock;
	pat->rows = 1;
	pat->n_obs = d - m;
	pat->too_big = pat->n_obs > c->marg_max_obs;
	return pat;
}

/*
 * pat's marginal model over its observed features, kept in the pattern's
 * slot; a numerically singular observed block marks the pattern as never
 * built (the caller's own route reports it).
 */
static void
BuildPatternMarginal(GmmScoreCache *c, GmmMissingPattern *pat)
{
	GmmParams  *p = &c->params;
	size_t		nparams = gmm_params_ndoubles(p->cov_type, p->k, pat->n_obs);
	size_t		nlanes = gmm_score_lanes_ndoubles(p->cov_type, p->k, pat->n_obs);
	double	   *buf = MemoryContextAlloc(c->mcxt, sizeof(double) * (nparams + nlanes + 8));
	int			bad;
	int			o = 0;

	for (int t = 0; t < p->d; t++)
	{
		pat->obs[o] = t;
		o += (pat->mask[t / 8] >> (t % 8)) & 1 ? 0 : 1;
	}
	Assert(o == pat->n_obs);
	gmm_params_bind(&pat->marg, p->cov_type, p->k, pat->n_obs, buf);
	if (gmm_marginal_params(p, pat->n_obs, pat->obs, &pat->marg, &bad) == GMM_OK)
	{
		double	   *lanes = (double *) TYPEALIGN(64, buf + nparams);

		if (nlanes)
			gmm_score_lanes(&pat->marg, lanes);
		pat->marg_lanes = nlanes ? lanes : NULL;
		pat->marg_fn = gmm_row_log_prob_lanes_fn(&pat->marg, pat->marg_lanes);
		pat->marg_buf = buf;
	}
	else
	{
		pfree(buf);
		pat->too_big = true;
	}
}

/*
 * The marginal of row v's missingness pattern (m missing features, 0 < m <
 * d) over its observed features, in increasing order, for gmm_anomaly.c's
 * functions, which need it for every row: kept among the call site's
 * patterns and built on the pattern's first row.  NULL when it is not kept
 * (larger than GMM_MISSING_PATTERN_BYTES, or numerically singular): the
 * caller builds its own, and reports.
 */
const GmmParams *
gmm_prepared_marginal(const GmmPrepared *p, const double *v, int m)
{
	GmmScoreCache *c = (GmmScoreCache *) p->cache;
	GmmMissingPattern *pat = FindPattern(c, v, m, NULL);

	if (pat->marg_buf == NULL && !pat->too_big)
		BuildPatternMarginal(c, pat);
	return pat->marg_buf ? &pat->marg : NULL;
}

/*
 * Log-sum-exp of row v with m (1 <= m < d) missing features, with
 * per-component terms in c->logprob.  A row read by gmm_array_read_buffered
 * comes as b (v NULL): its mask finds the pattern, and a pattern's marginal
 * scores its stored values as they are (the observed ones, in order), the
 * row being expanded only for the other routes.
 */
static double
ScoreMissing(GmmScoreCache *c, const double *v, int m, GmmArrayBuffers *b)
{
	GmmParams  *p = &c->params;
	GmmMissingPattern *pat = NULL;
	double		lse;

	if (p->cov_type == GMM_COV_FULL || p->cov_type == GMM_COV_TIED)
	{
		pat = FindPattern(c, v, m, b ? b->mask : NULL);
		if (pat->marg_buf == NULL && pat->rows >= GMM_MISSING_BUILD_ROWS && !pat->too_big)
			BuildPatternMarginal(c, pat);
	}
	if (pat != NULL && pat->marg_buf != NULL)
	{
		if (b == NULL)
		{
			for (int a = 0; a < pat->n_obs; a++)
				c->packed[a] = v[pat->obs[a]];
		}
		return pat->marg_fn(&pat->marg, pat->marg_lanes, c->log_weights,
							b ? gmm_array_buffered_stored(b) : c->packed,
							c->logprob, c->work);
	}
	if (v == NULL)
		v = gmm_array_buffered_expand(b);
	if (pat != NULL && c->prec == NULL)
	{
		c->prec = MemoryContextAlloc(c->mcxt, sizeof(double) *
									 gmm_precisions_ndoubles(p->cov_type, p->k, p->d));
		gmm_precisions(p, c->prec);
	}
	lse = gmm_row_log_prob_missing(p, c->prec, c->log_weights, v, c->logprob,
								   MissingWork(c, m));
	if (isnan(lse))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the model's covariance is numerically singular on the observed features of the row")));
	return lse;
}

/*
 * Log-sum-exp of row v under c's model, with per-component terms in
 * c->logprob; false (nothing computed) when every element is missing.  m:
 * the row's missing values (-1: not known, to be counted).  b: the buffers
 * a row with NULLs was read into (v NULL then), or NULL.
 */
static bool
ScoreValues(GmmScoreCache *c, const double *v, int m, GmmArrayBuffers *b,
			double *lse)
{
	int			d = c->params.d;

	if (m < 0)
		m = gmm_row_count_missing(v, d);

	if (m == 0)
		*lse = c->row_fn(&c->params, c->lanes, c->log_weights, v, c->logprob, c->work);
	else if (m == d)
		return false;
	else if (c->bayesian)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a Bayesian model cannot score a row with NULL elements"),
				 errdetail("Its per-component terms (scikit-learn's digamma terms) are those of all %d features, not of a marginal.", d),
				 errhint("Fill the row first, e.g. with gmm_impute under a gmm_fit model, or score its complete rows only.")));
	else
		*lse = ScoreMissing(c, v, m, b);
	return true;
}

/*
 * A scoring call's row datum under c's model, read by read; float8[] rows
 * (gmm_array_reader_nulls) into c's buffers, with their count of NULL
 * elements in *m and, when there are some, the buffers in *b (and NULL
 * returned: see gmm_array_read_buffered).  Other readers' rows: *m -1 (not
 * known), *b NULL.
 */
static const double *
ReadScoreRow(GmmScoreCache *c, GmmRowReader read, Datum row, int *m,
			 GmmArrayBuffers **b, void **to_free)
{
	int			d = c->params.d;
	const double *v;

	*b = NULL;
	if (read != gmm_array_reader_nulls)
	{
		*m = -1;
		return read(row, d, "the model", &d, to_free);
	}
	if (c->rowbuf == NULL)
	{
		GmmArrayBuffers *nb = MemoryContextAlloc(c->mcxt, sizeof(GmmArrayBuffers));

		nb->values = MemoryContextAlloc(c->mcxt, sizeof(double) * d);
		nb->mask = MemoryContextAlloc(c->mcxt, (d + 7) / 8);
		c->rowbuf = nb;
	}
	v = gmm_array_read_buffered(row, d, "the model", c->rowbuf, m, to_free);
	if (*m > 0)
		*b = c->rowbuf;
	return v;
}

/*
 * The cache, and row's log-sum-exp with per-component terms in c->logprob;
 * false for a row of missing values only.
 */
static bool
ScoreRow(FunctionCallInfo fcinfo, GmmScoreCache **cp, GmmRowReader read,
		 double *lse)
{
	GmmScoreCache *c = GetScoreCache(fcinfo, 0);
	void	   *to_free;
	int			m;
	GmmArrayBuffers *b;
	const double *v = ReadScoreRow(c, read, PG_GETARG_DATUM(1), &m, &b, &to_free);
	bool		ok;

	*cp = c;
	ok = ScoreValues(c, v, m, b, lse);
	if (to_free)
		pfree(to_free);
	return ok;
}

/*
 * Turn c->logprob into the row's responsibilities and return the most likely
 * component.  A row so far from every component that all its densities
 * underflow to zero (log-sum-exp -inf) carries no evidence: its
 * responsibilities are the prior, the weights, rather than 0/0.
 */
static int
Responsibilities(GmmScoreCache *c, double lse)
{
	int			k = c->params.k;

	if (lse == -INFINITY)
		memcpy(c->logprob, c->log_weights, sizeof(double) * k);
	else
		return gmm_row_responsibilities(k, c->logprob, lse);
	return gmm_row_responsibilities(k, c->logprob, 0.0);
}

/* gmm_predict_proba's result: the responsibilities in c->logprob */
static Datum
ProbaArray(GmmScoreCache *c)
{
	int			k = c->params.k;
	Datum	   *elems = palloc(sizeof(Datum) * k);

	for (int j = 0; j < k; j++)
		elems[j] = Float8GetDatum(c->logprob[j]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, k, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * gmm_predict_top(model, x, n): the n most likely components of the row with
 * their probabilities, most likely first (ties by component number).
 */
static Datum
PredictTop(FunctionCallInfo fcinfo, GmmScoreCache *c, double lse)
{
	int			n = PG_GETARG_INT32(2);
	int			k = c->params.k;
	ReturnSetInfo *rsinfo;
	bool	   *taken;

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of components to return must be at least 1, not %d", n)));
	Responsibilities(c, lse);
	rsinfo = gmm_srf_materialize(fcinfo);
	taken = palloc0(sizeof(bool) * k);
	/* n selection passes: k is small, and n usually 1 to 3 */
	for (int r = 0; r < Min(n, k); r++)
	{
		int			best = -1;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		for (int j = 0; j < k; j++)
			if (!taken[j] && (best < 0 || c->logprob[j] > c->logprob[best]))
				best = j;
		taken[best] = true;
		values[0] = Int32GetDatum(best);
		values[1] = Float8GetDatum(c->logprob[best]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * gmm_score_samples, gmm_predict, gmm_predict_proba or gmm_predict_top
 * (kind) of the row in argument 1, read by read (gmm_row.h), under the
 * model in argument 0.
 */
Datum
gmm_score_row(FunctionCallInfo fcinfo, GmmScoreKind kind, GmmRowReader read)
{
	GmmScoreCache *c;
	double		lse;

	if (!ScoreRow(fcinfo, &c, read, &lse))
	{
		/* every element NULL: no evidence, no score (no rows of predict_top) */
		if (kind == GMM_SCORE_PREDICT_TOP)
		{
			gmm_srf_materialize(fcinfo);
			return (Datum) 0;
		}
		PG_RETURN_NULL();
	}
	switch (kind)
	{
		case GMM_SCORE_SAMPLES:
			PG_RETURN_FLOAT8(lse);
		case GMM_SCORE_PREDICT:
			PG_RETURN_INT32(Responsibilities(c, lse));
		case GMM_SCORE_PREDICT_PROBA:
			Responsibilities(c, lse);
			return ProbaArray(c);
		case GMM_SCORE_PREDICT_TOP:
			return PredictTop(fcinfo, c, lse);
	}
	elog(ERROR, "gmm: unknown scoring function kind %d", (int) kind);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(gmm_score_samples);
Datum
gmm_score_samples(PG_FUNCTION_ARGS)
{
	return gmm_score_row(fcinfo, GMM_SCORE_SAMPLES, gmm_array_reader_nulls);
}

PG_FUNCTION_INFO_V1(gmm_predict);
Datum
gmm_predict(PG_FUNCTION_ARGS)
{
	return gmm_score_row(fcinfo, GMM_SCORE_PREDICT, gmm_array_reader_nulls);
}

PG_FUNCTION_INFO_V1(gmm_predict_proba);
Datum
gmm_predict_proba(PG_FUNCTION_ARGS)
{
	return gmm_score_row(fcinfo, GMM_SCORE_PREDICT_PROBA, gmm_array_reader_nulls);
}

PG_FUNCTION_INFO_V1(gmm_predict_top);
Datum
gmm_predict_top(PG_FUNCTION_ARGS)
{
	return gmm_score_row(fcinfo, GMM_SCORE_PREDICT_TOP, gmm_array_reader_nulls);
}

/*
 * Scoring aggregates over rows: gmm_score (mean log-likelihood), and the
 * data forms of gmm_bic and gmm_aic.  The state is a float8[3] of
 * {sum of log-likelihoods, number of rows, number of free parameters}: a
 * plain SQL type, so the aggregates run as partial aggregates in parallel
 * workers without serialisation.  As float8_accum does, the transition and
 * combine functions update their first argument in place when called as an
 * aggregate.
 */
static double *
ScoreStateValues(ArrayType *a)
{
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != 3 || ARR_HASNULL(a) ||
		ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "gmm: scoring aggregate state must be a float8[3]");
	return (double *) ARR_DATA_PTR(a);
}

/*
 * The transition step of gmm_score, gmm_bic and gmm_aic over (model, x),
 * with rows read by read (gmm_row.h).
 */
Datum
gmm_score_accum_row(FunctionCallInfo fcinfo, GmmRowReader read)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	double	   *s;
	GmmScoreCache *c;
	void	   *to_free;
	int			m;
	GmmArrayBuffers *b;
	const double *v;
	double		ll = 0.0;
	double		npar;
	bool		counted;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "gmm_score_accum called in non-aggregate context");
	s = ScoreStateValues(state);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_ARRAYTYPE_P(state);

	c = GetScoreCache(fcinfo, 1);
	v = ReadScoreRow(c, read, PG_GETARG_DATUM(2), &m, &b, &to_free);
	counted = ScoreValues(c, v, m, b, &ll);
	if (to_free)
		pfree(to_free);
	if (!counted)
		PG_RETURN_ARRAYTYPE_P(state);	/* a row of NULLs only: skipped */
	/* a Bayesian model has no bic or aic: -1 makes their final functions say so */
	npar = c->bayesian ? -1.0 :
		(double) gmm_n_parameters(c->params.cov_type, c->params.k, c->params.d);
	if (s[1] > 0 && s[2] != npar)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model must be the same for every row of the aggregate")));
	s[0] += ll;
	s[1] += 1;
	s[2] = npar;
	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(gmm_score_accum);
Datum
gmm_score_accum(PG_FUNCTION_ARGS)
{
	return gmm_score_accum_row(fcinfo, gmm_array_reader_nulls);
}

PG_FUNCTION_INFO_V1(gmm_score_combine);
Datum
gmm_score_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	double	   *sa;
	double	   *sb;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "gmm_score_combine called in non-aggregate context");
	sa = ScoreStateValues(a);
	sb = ScoreStateValues(b);
	if (sa[1] > 0 && sb[1] > 0 && sa[2] != sb[2])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model must be the same for every row of the aggregate")));
	if (sb[1] > 0)
		sa[2] = sb[2];
	sa[0] += sb[0];
	sa[1] += sb[1];
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(gmm_score_final);
Datum
gmm_score_final(PG_FUNCTION_ARGS)
{
	double	   *s = ScoreStateValues(PG_GETARG_ARRAYTYPE_P(0));

	if (s[1] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[0] / s[1]);
}

/* scikit-learn: bic = -2 score(X) n + p ln n, aic = -2 score(X) n + 2 p */
PG_FUNCTION_INFO_V1(gmm_bic_final);
Datum
gmm_bic_final(PG_FUNCTION_ARGS)
{
	double	   *s = ScoreStateValues(PG_GETARG_ARRAYTYPE_P(0));

	if (s[1] == 0)
		PG_RETURN_NULL();
	if (s[2] < 0)
		gmm_bayes_reject(NULL, "gmm_bic");
	PG_RETURN_FLOAT8(-2.0 * s[0] + s[2] * log(s[1]));
}

PG_FUNCTION_INFO_V1(gmm_aic_final);
Datum
gmm_aic_final(PG_FUNCTION_ARGS)
{
	double	   *s = ScoreStateValues(PG_GETARG_ARRAYTYPE_P(0));

	if (s[1] == 0)
		PG_RETURN_NULL();
	if (s[2] < 0)
		gmm_bayes_reject(NULL, "gmm_aic");
	PG_RETURN_FLOAT8(-2.0 * s[0] + 2.0 * s[2]);
}
