/*
 * gmm_init.c
 *	  gmm_init(x, n_components [, options]): the initial model of a fit,
 *	  computed from a bounded, seeded random sample of the rows, as a
 *	  combinable aggregate with a real state type (gmm_init_state).
 *
 * Sampling: a bottom-k sample.  Every row gets a sampling key, the top 63
 * bits of a seeded 64-bit hash of its values (gmm_init_key(x, random_state)
 * in SQL):
 *
 *	h = mix(random_state + G); for each value v: h = mix((h ^ bits(v)) + G);
 *	key = h >> 1
 *
 * where bits(v) is the IEEE 754 bit pattern of v as an unsigned 64-bit
 * integer (-0.0 is first replaced by 0.0; infinities never get here, and
 * NaN only as a missing value, with missing => 'em', as the one quiet NaN
 * 0x7FF8000000000000, ordered after every number), G = 0x9E3779B97F4A7C15 and mix is splitmix64's finaliser
 * (z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
 * z *= 0x94D049BB133111EB; z ^= z >> 31; all modulo 2^64).  The sample is
 * the sample_size rows that come first in the order (key, then the values
 * compared as numbers, left to right): the rows with the smallest keys,
 * collisions broken by contents, so the order is total up to identical
 * rows, which are interchangeable.  The sample of a union is the bottom
 * sample_size of the union of the samples, so any partition of the rows,
 * merged in any order (parallel workers, Citus shards), gives the same
 * sample; and it is always held, shipped and used in that order, so the
 * state's text and binary forms and the initial model are byte-identical
 * whatever the split and the merge order.  The hash does not depend on the
 * rows' order or position, so for distinct rows the sample is a uniform
 * sample without replacement (as far as the hash is random), and
 * random_state picks another one.  Identical rows share a key, so they are
 * sampled together: a repeated row is in the sample with all its copies
 * (the last one in up to sample_size) or not at all, which on data with
 * heavy duplication makes the sample a uniform sample of distinct rows,
 * each with all its copies, rather than of rows.  (Telling the copies
 * apart would need an order or a count per distinct row, which no bounded,
 * mergeable state has.)  The transition function keeps a max-heap of the
 * sample_size smallest rows (a new row costs one hash and, once the heap
 * is full, one comparison with its top); combine sorts its inputs if they
 * are not sorted yet and merges them, keeping at most sample_size rows.
 *
 * Initialisation.  The final function runs gmm_fit's initialisation
 * (k-means by default; covariance_type, init_params, random_state,
 * reg_covar, n_init, weights_init, means_init, precisions_init as gmm_fit)
 * on the sample, in the sampling order, with max_iter 0: n_iter 0, no
 * lower bound, log_likelihood and n_samples of the sample.  The stored
 * options (max_iter, tol, ...) are those given, for gmm_em_step and
 * gmm_train to continue with.  With no more rows than sample_size the
 * sample is every row, so gmm_init equals
 *	gmm_fit(x, k, options || '{"max_iter": 0}'
 *			ORDER BY gmm_init_key(x, random_state), x)
 * over the same rows.
 *
 * Before version 1.1 the sample was a reservoir (Algorithm R) whose merge
 * depended on the arrival order of the rows and of the merges.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "gmm.h"
#include "gmm_em_state.h"
#include "gmm_fit.h"
#include "gmm_row.h"

#define GMM_INIT_STATE_MAGIC		0x474D4953	/* "GMIS" */
#define GMM_INIT_WIRE_HEADER		36
#define GMM_INIT_DEFAULT_SAMPLE		10000
#define GMM_INIT_DEFAULT_PER_COMP	100
/* the one NaN (a missing value) of a sample, IEEE 754's default quiet NaN */
#define GMM_INIT_NAN_BITS			UINT64CONST(0x7ff8000000000000)

#define KEY_GAMMA	UINT64CONST(0x9E3779B97F4A7C15)

/* how the slots of a state are ordered (in memory only, never shipped) */
#define INIT_ORDER_NONE		0	/* as they came */
#define INIT_ORDER_HEAP		1	/* a max-heap: slot 0 comes last */
#define INIT_ORDER_SORTED	2	/* the sampling order */

/*
 * In memory: the header, the options jsonb (MAXALIGNed), then cap slots of
 * d + 1 words each: the row's key (uint64), then its d values.
 */
typedef struct GmmInitState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		version;		/* GMM_INIT_STATE_VERSION */
	uint8		order;			/* INIT_ORDER_* */
	uint8		reserved8[2];	/* zero */
	int32		k;				/* n_components */
	int32		d;				/* features */
	int32		sample_size;	/* bound of the sample */
	int32		nsample;		/* rows in the sample, min(sample_size, n_seen) */
	int32		cap;			/* slots allocated */
	int32		options_bytes;	/* VARSIZE of the options jsonb, 0 if none */
	int64		n_seen;			/* rows offered */
	uint64		seed;			/* random_state, from the options */
	double		data[FLEXIBLE_ARRAY_MEMBER];	/* options jsonb, then slots */
} GmmInitState;

#define INIT_HEADER_SIZE	offsetof(GmmInitState, data)

static Jsonb *
InitOptions(GmmInitState *s)
{
	return s->options_bytes > 0 ? (Jsonb *) s->data : NULL;
}

static double *
InitSlots(GmmInitState *s)
{
	return s->data + MAXALIGN(s->options_bytes) / sizeof(double);
}

static inline uint64
SlotKey(const double *slot)
{
	uint64		key;

	memcpy(&key, slot, sizeof(key));
	return key;
}

static inline uint64
KeyMix(uint64 z)
{
	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/*
 * A row's sampling key (see the header comment).  x may be unaligned; out,
 * if not NULL, gets the d values with -0.0 replaced by 0.0.
 */
static uint64
RowKey(const double *x, int d, uint64 seed, double *out)
{
	uint64		h = KeyMix(seed + KEY_GAMMA);

	for (int i = 0; i < d; i++)
	{
		double		v;
		uint64		bits;

		memcpy(&v, &x[i], sizeof(v));
		if (v == 0.0)
			v = 0.0;
		memcpy(&bits, &v, sizeof(bits));
		/* missing => 'em': a missing value hashes as one NaN */
		if (unlikely(isnan(v)))
		{
			bits = GMM_INIT_NAN_BITS;
			memcpy(&v, &bits, sizeof(v));
		}
		h = KeyMix((h ^ bits) + KEY_GAMMA);
		if (out)
			out[i] = v;
	}
	return h >> 1;
}

/*
 * The sampling order of two slots; a missing value (NaN, missing => 'em')
 * comes after every number, as in PostgreSQL's float8 order.
 */
static inline int
SlotCmp(const double *a, const double *b, int d)
{
	uint64		ka = SlotKey(a);
	uint64		kb = SlotKey(b);

	if (ka != kb)
		return ka < kb ? -1 : 1;
	for (int i = 1; i <= d; i++)
		if (a[i] != b[i])
		{
			bool		an = isnan(a[i]),
						bn = isnan(b[i]);

			if (an && bn)
				continue;
			if (an || bn)
				return an ? 1 : -1;
			return a[i] < b[i] ? -1 : 1;
		}
	return 0;
}

static int
SlotQsortCmp(const void *a, const void *b, void *arg)
{
	return SlotCmp((const double *) a, (const double *) b, *(const int *) arg);
}

static inline void
SlotSwap(double *a, double *b, int stride)
{
	for (int i = 0; i < stride; i++)
	{
		double		t = a[i];

		a[i] = b[i];
		b[i] = t;
	}
}

/* restore the max-heap below slot i of n */
static void
HeapSiftDown(double *slots, int n, int i, int d)
{
	int			stride = d + 1;

	for (;;)
	{
		int			l = 2 * i + 1;
		int			big = i;

		if (l < n && SlotCmp(slots + (size_t) l * stride, slots + (size_t) big * stride, d) > 0)
			big = l;
		if (l + 1 < n && SlotCmp(slots + (size_t) (l + 1) * stride, slots + (size_t) big * stride, d) > 0)
			big = l + 1;
		if (big == i)
			return;
		SlotSwap(slots + (size_t) i * stride, slots + (size_t) big * stride, stride);
		i = big;
	}
}

static Size
InitStateSize(int d, int cap, int options_bytes)
{
	Size		size = add_size(INIT_HEADER_SIZE, MAXALIGN(options_bytes));

	size = add_size(size, mul_size(mul_size(cap, d + 1), sizeof(double)));
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gmm_init sample is too large"),
				 errdetail("%d rows of %d features need %zu bytes, the maximum is %zu.",
						   cap, d, size, (Size) MaxAllocSize),
				 errhint("Lower the sample_size option.")));
	return size;
}
/*
 * Parse gmm_init's options: sample_size (default max(10000, 100 K)) and
 * gmm_fit's options, checked as gmm_fit checks them.
 */
static void
InitParseOptions(Jsonb *opts, int k, GmmOptions *o, int *sample_size)
{
	Jsonb	   *rest = opts;

	*sample_size = Max(GMM_INIT_DEFAULT_SAMPLE, GMM_INIT_DEFAULT_PER_COMP * k);
	gmm_options_init(o);
	if (opts != NULL && JB_ROOT_IS_OBJECT(opts) && !JB_ROOT_IS_SCALAR(opts))
	{
		JsonbValue *v = getKeyJsonValueFromContainer(&opts->root, "sample_size",
													 strlen("sample_size"), NULL);

		if (v != NULL && v->type != jbvNull)
		{
			double		x;

			if (v->type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"sample_size\" must be an integer, not %s",
								gmm_jsonb_type_name(v))));
			x = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												   NumericGetDatum(v->val.numeric)));
			if (!(x >= k && x <= PG_INT32_MAX && x == floor(x)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"sample_size\" must be an integer between n_components (%d) and %d",
								k, PG_INT32_MAX)));
			*sample_size = (int) x;
		}
		if (v != NULL)
			rest = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete,
													  JsonbPGetDatum(opts),
													  CStringGetTextDatum("sample_size")));
	}
	gmm_options_apply(rest, o);
	gmm_options_reject_sklearn_rng(o, "gmm_init");
}

/* a copy of s with room for cap slots, in CurrentMemoryContext */
static GmmInitState *
InitStateResize(GmmInitState *s, int cap)
{
	Size		size = InitStateSize(s->d, cap, s->options_bytes);
	GmmInitState *n = palloc(size);
	Size		used = (char *) (InitSlots(s) + (size_t) Min(s->nsample, cap) * (s->d + 1)) -
		(char *) s;

	memcpy(n, s, used);
	SET_VARSIZE(n, size);
	n->cap = cap;
	return n;
}

/* an empty state of the given shape with room for cap slots */
static GmmInitState *
InitStateNew(int k, int d, int sample_size, Jsonb *opts, uint64 seed, int cap)
{
	int			obytes = opts ? (int) VARSIZE(opts) : 0;
	Size		size = InitStateSize(d, cap, obytes);
	GmmInitState *s = palloc0(size);

	SET_VARSIZE(s, size);
	s->version = GMM_INIT_STATE_VERSION;
	s->order = INIT_ORDER_SORTED;
	s->k = k;
	s->d = d;
	s->sample_size = sample_size;
	s->cap = cap;
	s->options_bytes = obytes;
	s->seed = seed;
	if (opts)
		memcpy(s->data, opts, obytes);
	return s;
}

/*
 * The slots of s in the sampling order: s's own if they are sorted, else a
 * sorted copy in CurrentMemoryContext.
 */
static const double *
InitSortedSlots(GmmInitState *s)
{
	size_t		bytes = sizeof(double) * (size_t) s->nsample * (s->d + 1);
	double	   *copy;

	if (s->order == INIT_ORDER_SORTED || s->nsample <= 1)
		return InitSlots(s);
	copy = palloc(Max(bytes, 1));
	memcpy(copy, InitSlots(s), bytes);
	qsort_arg(copy, s->nsample, sizeof(double) * (s->d + 1), SlotQsortCmp, &s->d);
	return copy;
}

static int
InitGetK(FunctionCallInfo fcinfo)
{
	int			k;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("n_components must not be NULL")));
	k = PG_GETARG_INT32(2);
	gmm_check_n_components("n_components", k);
	return k;
}

/* a new state for the aggregate's first row, in CurrentMemoryContext */
static GmmInitState *
InitStateCreate(FunctionCallInfo fcinfo, int k, int d)
{
	Jsonb	   *opts = NULL;
	GmmOptions	o;
	int			m;

	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		opts = PG_GETARG_JSONB_P(3);
	InitParseOptions(opts, k, &o, &m);
	return InitStateNew(k, d, m, opts, o.fit.random_state, Min(m, 1024));
}

/*
 * The transition step of gmm_init(x, k [, options]), with rows read by read
 * (gmm_row.h).
 */
Datum
gmm_init_transition(FunctionCallInfo fcinfo, GmmRowReader read)
{
	GmmInitState *s;
	void	   *to_free;
	const double *x;
	int			k;
	int			d;
	int			stride;
	uint64		key;
	double	   *slots;
	int			n_null = 0;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "gmm_init transition function called in non-aggregate context");
	s = PG_ARGISNULL(0) ? NULL : (GmmInitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	k = InitGetK(fcinfo);
	if (s == NULL)
	{
		if (read == gmm_array_reader)
			x = gmm_array_reader_missing(PG_GETARG_DATUM(1), 0, NULL,
										 PG_NARGS() > 3 && !PG_ARGISNULL(3) &&
										 gmm_options_missing_em(PG_GETARG_JSONB_P(3)),
										 &d, &to_free, &n_null);
		else
			x = read(PG_GETARG_DATUM(1), 0, NULL, &d, &to_free);
		s = InitStateCreate(fcinfo, k, d);
	}
	else
	{
		Jsonb	   *opts = (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? PG_GETARG_JSONB_P(3) : NULL;
		Jsonb	   *mine = InitOptions(s);

		if (k != s->k)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("n_components must be the same for every row of the aggregate"),
					 errdetail("It was %d on earlier rows and is %d on this one.", s->k, k)));
		if ((opts == NULL) != (mine == NULL) ||
			(opts && (VARSIZE(opts) != VARSIZE(mine) ||
					  memcmp(opts, mine, VARSIZE(opts)) != 0)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options must be the same for every row of the aggregate")));
		if (read == gmm_array_reader)
			x = gmm_array_reader_missing(PG_GETARG_DATUM(1), s->d,
										 "the first row of the aggregate",
										 mine != NULL && gmm_options_missing_em(mine),
										 &d, &to_free, &n_null);
		else
			x = read(PG_GETARG_DATUM(1), s->d, "the first row of the aggregate", &d, &to_free);
	}

	/* a row whose every value is missing carries no information: skipped */
	if (n_null == d)
	{
		if (to_free)
			pfree(to_free);
		PG_RETURN_POINTER(s);
	}
	stride = d + 1;
	s->n_seen++;
	if (s->nsample < s->sample_size)
	{
		double	   *slot;

		if (s->nsample == s->cap)
			s = InitStateResize(s, (int) Min((int64) s->sample_size, 2 * (int64) s->cap));
		slot = InitSlots(s) + (size_t) s->nsample * stride;
		key = RowKey(x, d, s->seed, slot + 1);
		memcpy(slot, &key, sizeof(key));
		s->nsample++;
		if (s->nsample > 1)
			s->order = INIT_ORDER_NONE;
	}
	else
	{
		/* full: the row replaces the last of the sample if it comes before it */
		slots = InitSlots(s);
		if (s->order != INIT_ORDER_HEAP)
		{
			for (int i = s->nsample / 2 - 1; i >= 0; i--)
				HeapSiftDown(slots, s->nsample, i, d);
			s->order = INIT_ORDER_HEAP;
		}
		key = RowKey(x, d, s->seed, NULL);
		if (key <= SlotKey(slots))
		{
			double	   *tmp = palloc(sizeof(double) * stride);

			memcpy(tmp, &key, sizeof(key));
			(void) RowKey(x, d, s->seed, tmp + 1);
			if (SlotCmp(tmp, slots, d) < 0)
			{
				memcpy(slots, tmp, sizeof(double) * stride);
				HeapSiftDown(slots, s->nsample, 0, d);
			}
			pfree(tmp);
		}
	}
	if (to_free)
		pfree(to_free);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(gmm_init_transfn);
Datum
gmm_init_transfn(PG_FUNCTION_ARGS)
{
	return gmm_init_transition(fcinfo, gmm_array_reader);
}

/*
 * Merge two samples (STRICT): the first min(sample_size, rows of both) rows
 * of both in the sampling order.  The result is a new state (or, as an
 * aggregate and when it fits, the first argument updated in place); the
 * second argument is only read.
 */
PG_FUNCTION_INFO_V1(gmm_init_combine);
Datum
gmm_init_combine(PG_FUNCTION_ARGS)
{
	GmmInitState *a = (GmmInitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	GmmInitState *b = (GmmInitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	Jsonb	   *oa = InitOptions(a);
	Jsonb	   *ob = InitOptions(b);
	int			d = a->d;
	int			stride = d + 1;
	size_t		slot_bytes = sizeof(double) * stride;
	int			c;
	int			ia = 0,
				ib = 0;
	const double *sa;
	const double *sb;
	double	   *out;
	GmmInitState *r;

	if (a->k != b->k || a->d != b->d || a->sample_size != b->sample_size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot combine gmm_init_state values of different shapes"),
				 errdetail("One has %d components, %d features and sample_size %d; the other %d, %d and %d.",
						   a->k, a->d, a->sample_size, b->k, b->d, b->sample_size)));
	if (a->options_bytes != b->options_bytes ||
		(oa && memcmp(oa, ob, a->options_bytes) != 0) || a->seed != b->seed)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot combine gmm_init_state values with different options")));

	c = (int) Min((int64) a->sample_size, (int64) a->nsample + b->nsample);
	sa = InitSortedSlots(a);
	sb = InitSortedSlots(b);
	out = palloc(slot_bytes * Max(c, 1));
	for (int i = 0; i < c; i++)
	{
		const double *src;

		if (ib >= b->nsample ||
			(ia < a->nsample &&
			 SlotCmp(sa + (size_t) ia * stride, sb + (size_t) ib * stride, d) <= 0))
			src = sa + (size_t) (ia++) * stride;
		else
			src = sb + (size_t) (ib++) * stride;
		memcpy(out + (size_t) i * stride, src, slot_bytes);
	}

	if (c <= a->cap && AggCheckCallContext(fcinfo, NULL) &&
		(Pointer) a == DatumGetPointer(PG_GETARG_DATUM(0)))
		r = a;
	else
		r = InitStateResize(a, Max(c, 1));
	memcpy(InitSlots(r), out, slot_bytes * c);
	r->nsample = c;
	r->order = INIT_ORDER_SORTED;
	r->n_seen = a->n_seen + b->n_seen;
	pfree(out);
	PG_RETURN_POINTER(r);
}

/* the rows of a state's sample in the sampling order, packed */
static double *
InitSampleRows(GmmInitState *s)
{
	const double *slots = InitSortedSlots(s);
	int			d = s->d;
	double	   *rows = palloc(sizeof(double) * (size_t) Max(s->nsample, 1) * d);

	for (int i = 0; i < s->nsample; i++)
		memcpy(rows + (size_t) i * d, slots + (size_t) i * (d + 1) + 1,
			   sizeof(double) * d);
	return rows;
}

/* the initial model from the sample (the state is only read) */
PG_FUNCTION_INFO_V1(gmm_init_final);
Datum
gmm_init_final(PG_FUNCTION_ARGS)
{
	GmmInitState *s = (GmmInitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	GmmOptions	o;
	GmmModel   *m;
	int			sample_size;
	int			max_iter;

	InitParseOptions(InitOptions(s), s->k, &o, &sample_size);
	max_iter = o.fit.max_iter;
	o.fit.max_iter = 0;
	/* starting points, not a fitted model: no calibration */
	m = gmm_fit_rows(InitSampleRows(s), NULL, s->nsample, s->d, s->k, &o, NULL,
					 "gmm_init", false);
	m->max_iter = max_iter;
	PG_RETURN_GMM_P(m);
}

/*
 * gmm_init_key(x, random_state): a row's sampling key.  NULL elements are
 * accepted and hash as the one NaN that stands for a missing value in the
 * sample (GMM_INIT_NAN_BITS), so that ORDER BY gmm_init_key(x, seed), x is
 * gmm_init's sampling order with missing => 'em' too; NaN elements stay
 * errors.
 */
PG_FUNCTION_INFO_V1(gmm_init_key);
Datum
gmm_init_key(PG_FUNCTION_ARGS)
{
	ArrayType  *xa = PG_GETARG_ARRAYTYPE_P(0);
	int64		seed = PG_GETARG_INT64(1);
	const double *x;
	int			d;

	if (seed < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random_state must not be negative, not " INT64_FORMAT, seed)));
	/* a NULL element hashes as the missing value (NaN) of missing => 'em' */
	x = gmm_array_row_nulls(xa, 0, NULL, NULL, &d, NULL);
	PG_RETURN_INT64((int64) RowKey(x, d, (uint64) seed, NULL));
}

/* ---------------------------------------------------------------------
 * I/O.  Binary format (version 2), big-endian:
 *
 *	0	4	uint32		magic 0x474D4953 ("GMIS")
 *	4	1	uint8		format version (2)
 *	5	3	uint8[3]	reserved, zero
 *	8	4	int32		n_components (K)
 *	12	4	int32		n_features (D)
 *	16	4	int32		sample_size (M)
 *	20	4	int32		rows in the sample (S = min(M, N))
 *	24	8	int64		rows seen (N)
 *	32	4	int32		length of the options (L, 0: none)
 *	36	L	bytes		options, JSON text
 *		8SD	float8[]	the sample, S x D, in the sampling order
 *
 * The keys are not sent: input recomputes them with the options'
 * random_state and rejects a sample that is not in the sampling order
 * (identical rows may repeat), values that are not finite and -0.0.  Input
 * parses the options as gmm_init does and checks that they give M.
 *
 * The text form is the same bytes in base64 (RFC 4648, standard alphabet,
 * padded, no line breaks or spaces): 4 characters per 3 bytes, where
 * version 1 of the format (which also carried a generator state) was
 * shipped in hexadecimal, 2 characters a byte.  A state is transient (an
 * aggregate's, shipped between processes and nodes of one installation),
 * so version 1 is not read.
 * ---------------------------------------------------------------------
 */

static const char b64_chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
Base64Encode(const unsigned char *p, size_t n)
{
	size_t		outlen = 4 * ((n + 2) / 3);
	char	   *out = palloc_extended(outlen + 1, MCXT_ALLOC_HUGE);
	char	   *o = out;
	size_t		i = 0;

	for (; i + 3 <= n; i += 3)
	{
		uint32		v = ((uint32) p[i] << 16) | ((uint32) p[i + 1] << 8) | p[i + 2];

		*o++ = b64_chars[v >> 18];
		*o++ = b64_chars[(v >> 12) & 63];
		*o++ = b64_chars[(v >> 6) & 63];
		*o++ = b64_chars[v & 63];
	}
	if (i < n)
	{
		uint32		v = (uint32) p[i] << 16;

		if (i + 1 < n)
			v |= (uint32) p[i + 1] << 8;
		*o++ = b64_chars[v >> 18];
		*o++ = b64_chars[(v >> 12) & 63];
		*o++ = (i + 1 < n) ? b64_chars[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static void
BadInitText(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type gmm_init_state"),
			 errdetail("%s", detail)));
}

/* strict base64: padded, canonical (unused bits zero), nothing else */
static unsigned char *
Base64Decode(const char *str, size_t *len)
{
	static int8 dec[256];
	static bool ready = false;
	size_t		n = strlen(str);
	size_t		pad = 0;
	size_t		groups;
	unsigned char *out;
	unsigned char *o;

	if (!ready)
	{
		memset(dec, -1, sizeof(dec));
		for (int i = 0; i < 64; i++)
			dec[(unsigned char) b64_chars[i]] = (int8) i;
		ready = true;
	}
	if (n == 0 || n % 4 != 0)
		BadInitText("The text form is base64 (RFC 4648, padded): a non-zero multiple of 4 characters.");
	if (str[n - 1] == '=')
		pad = (str[n - 2] == '=') ? 2 : 1;
	groups = n / 4;
	*len = 3 * groups - pad;
	out = palloc_extended(Max(*len, 1), MCXT_ALLOC_HUGE);
	o = out;
	for (size_t g = 0; g < groups; g++)
	{
		const unsigned char *q = (const unsigned char *) str + 4 * g;
		bool		last = (g == groups - 1);
		int			c0 = dec[q[0]],
					c1 = dec[q[1]],
					c2 = (last && pad == 2) ? 0 : dec[q[2]],
					c3 = (last && pad >= 1) ? 0 : dec[q[3]];
		uint32		v;

		if ((c0 | c1 | c2 | c3) < 0)
			BadInitText("The text form is base64 (RFC 4648, padded), with no other characters.");
		v = ((uint32) c0 << 18) | ((uint32) c1 << 12) | ((uint32) c2 << 6) | (uint32) c3;
		if (last && ((pad == 2 && (v & 0xffff)) || (pad == 1 && (v & 0xff))))
			BadInitText("The base64 text has non-zero bits in its padding.");
		*o++ = (unsigned char) (v >> 16);
		if (!last || pad < 2)
			*o++ = (unsigned char) (v >> 8);
		if (!last || pad < 1)
			*o++ = (unsigned char) v;
		if ((g & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return out;
}

static void
BadInit(int code, const char *msg)
{
	ereport(ERROR,
			(errcode(code),
			 errmsg("invalid gmm_init_state: %s", msg)));
}

static inline uint32
GetU32(const unsigned char *p)
{
	return ((uint32) p[0] << 24) | ((uint32) p[1] << 16) | ((uint32) p[2] << 8) | p[3];
}

static inline uint64
GetU64(const unsigned char *p)
{
	return ((uint64) GetU32(p) << 32) | GetU32(p + 4);
}

static inline void
PutU32(unsigned char *p, uint32 v)
{
	p[0] = (unsigned char) (v >> 24);
	p[1] = (unsigned char) (v >> 16);
	p[2] = (unsigned char) (v >> 8);
	p[3] = (unsigned char) v;
}

static inline void
PutU64(unsigned char *p, uint64 v)
{
	PutU32(p, (uint32) (v >> 32));
	PutU32(p + 4, (uint32) v);
}

static GmmInitState *
InitStateDecode(const unsigned char *data, size_t len, int code)
{
	int32		k,
				d,
				m,
				ns,
				olen;
	int64		nseen;
	Jsonb	   *opts = NULL;
	GmmOptions	o;
	int			m2;
	GmmInitState *s;
	double	   *slots;
	const unsigned char *p;
	int			stride;

	if (len < GMM_INIT_WIRE_HEADER)
		BadInit(code, "truncated");
	if (GetU32(data) != GMM_INIT_STATE_MAGIC)
		BadInit(code, "wrong magic number");
	if (data[4] != GMM_INIT_STATE_VERSION)
		ereport(ERROR,
				(errcode(code),
				 errmsg("unsupported gmm_init_state format version"),
				 errdetail("Found version %d; this version of the extension reads format version %d.",
						   data[4], GMM_INIT_STATE_VERSION),
				 errhint("gmm_init_state is a transient aggregate state: compute it again with this version.")));
	if (data[5] != 0 || data[6] != 0 || data[7] != 0)
		BadInit(code, "non-zero reserved field");
	k = (int32) GetU32(data + 8);
	d = (int32) GetU32(data + 12);
	m = (int32) GetU32(data + 16);
	ns = (int32) GetU32(data + 20);
	nseen = (int64) GetU64(data + 24);
	olen = (int32) GetU32(data + 32);
	if (k < 1 || k > GMM_MAX_COMPONENTS || d < 1 || d > GMM_MAX_FEATURES)
		BadInit(code, "bad shape");
	if (m < k || ns < 0 || ns > m || nseen < 0 || ns != Min((int64) m, nseen))
		BadInit(code, "inconsistent sample size and row counts");
	if (olen < 0 || (uint64) len != GMM_INIT_WIRE_HEADER + (uint64) olen +
		8 * (uint64) ns * d)
		ereport(ERROR,
				(errcode(code),
				 errmsg("invalid gmm_init_state: wrong length"),
				 errdetail("Found %zu bytes.", len)));
	p = data + GMM_INIT_WIRE_HEADER;
	if (olen > 0)
	{
		char	   *txt = pnstrdup((const char *) p, olen);

		if (strlen(txt) != (size_t) olen)
			BadInit(code, "options contain a zero byte");
		opts = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(txt)));
		p += olen;
	}
	InitParseOptions(opts, k, &o, &m2);
	if (m2 != m)
		BadInit(code, "sample_size does not match the options");

	s = InitStateNew(k, d, m, opts, o.fit.random_state, Max(ns, 1));
	s->nsample = ns;
	s->n_seen = nseen;
	slots = InitSlots(s);
	stride = d + 1;
	for (int i = 0; i < ns; i++)
	{
		double	   *slot = slots + (size_t) i * stride;
		uint64		key;
		int			nnan = 0;

		for (int j = 1; j <= d; j++)
		{
			uint64		bits = GetU64(p);

			memcpy(&slot[j], &bits, sizeof(bits));
			p += 8;
			/* missing => 'em': a missing value is the one NaN */
			if (o.missing_em && bits == GMM_INIT_NAN_BITS)
			{
				if (++nnan == d)
					BadInit(code, "a sampled row has no observed value");
				continue;
			}
			if (!isfinite(slot[j]))
				BadInit(code, "a sampled value is not finite");
			if (bits == UINT64CONST(0x8000000000000000))
				BadInit(code, "a sampled value is -0");
		}
		key = RowKey(slot + 1, d, s->seed, NULL);
		memcpy(slot, &key, sizeof(key));
		if (i > 0 && SlotCmp(slot - stride, slot, d) > 0)
			ereport(ERROR,
					(errcode(code),
					 errmsg("invalid gmm_init_state: the sample is not in the sampling order"),
					 errdetail("Row %d comes before row %d.", i + 1, i)));
		if ((i & 0xfff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return s;
}

/* the binary format of s, without a varlena header; *len gets its length */
static unsigned char *
InitStateEncode(GmmInitState *s, size_t *len)
{
	Jsonb	   *opts = InitOptions(s);
	char	   *txt = opts ? JsonbToCString(NULL, &opts->root, VARSIZE(opts)) : NULL;
	size_t		olen = txt ? strlen(txt) : 0;
	const double *slots = InitSortedSlots(s);
	int			d = s->d;
	size_t		n = GMM_INIT_WIRE_HEADER + olen + 8 * (size_t) s->nsample * d;
	unsigned char *out = palloc_extended(n, MCXT_ALLOC_HUGE);
	unsigned char *p;

	PutU32(out, GMM_INIT_STATE_MAGIC);
	out[4] = s->version;
	out[5] = out[6] = out[7] = 0;
	PutU32(out + 8, (uint32) s->k);
	PutU32(out + 12, (uint32) d);
	PutU32(out + 16, (uint32) s->sample_size);
	PutU32(out + 20, (uint32) s->nsample);
	PutU64(out + 24, (uint64) s->n_seen);
	PutU32(out + 32, (uint32) olen);
	if (olen)
		memcpy(out + GMM_INIT_WIRE_HEADER, txt, olen);
	p = out + GMM_INIT_WIRE_HEADER + olen;
	for (int i = 0; i < s->nsample; i++)
	{
		const double *row = slots + (size_t) i * (d + 1) + 1;

		for (int j = 0; j < d; j++)
		{
			uint64		bits;

			memcpy(&bits, &row[j], sizeof(bits));
			PutU64(p, bits);
			p += 8;
		}
	}
	*len = n;
	return out;
}

PG_FUNCTION_INFO_V1(gmm_init_state_recv);
Datum
gmm_init_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	GmmInitState *s;

	s = InitStateDecode((const unsigned char *) buf->data + buf->cursor,
						buf->len - buf->cursor,
						ERRCODE_INVALID_BINARY_REPRESENTATION);
	buf->cursor = buf->len;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(gmm_init_state_send);
Datum
gmm_init_state_send(PG_FUNCTION_ARGS)
{
	GmmInitState *s = (GmmInitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	size_t		len;
	unsigned char *bytes = InitStateEncode(s, &len);
	bytea	   *result = palloc_extended(VARHDRSZ + len, MCXT_ALLOC_HUGE);

	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), bytes, len);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(gmm_init_state_in);
Datum
gmm_init_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len;
	unsigned char *bytes;

	/* format version 1's text form was hex: "GMIS" is 474d4953 */
	if (strncmp(str, "474d4953", 8) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("unsupported gmm_init_state format version"),
				 errdetail("This is the hexadecimal text form of format version 1; this version of the extension reads format version %d, in base64.",
						   GMM_INIT_STATE_VERSION),
				 errhint("gmm_init_state is a transient aggregate state: compute it again with this version.")));
	bytes = Base64Decode(str, &len);

	PG_RETURN_POINTER(InitStateDecode(bytes, len,
									  ERRCODE_INVALID_TEXT_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(gmm_init_state_out);
Datum
gmm_init_state_out(PG_FUNCTION_ARGS)
{
	GmmInitState *s = (GmmInitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	size_t		len;
	unsigned char *bytes = InitStateEncode(s, &len);

	PG_RETURN_CSTRING(Base64Encode(bytes, len));
}
