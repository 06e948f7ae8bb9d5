/*
 * gmm_init.c
 *	  gmm_init(x, n_components [, options]): the initial model of a fit,
 *	  computed from a bounded uniform random sample of the rows, as a
 *	  combinable aggregate with a real state type (gmm_init_state).
 *
 * Sampling.  The transition function keeps a reservoir (Algorithm R) of at
 * most sample_size rows, drawing from xoshiro256** seeded with random_state
 * on the stream given by a hash of the state's first row, so that workers
 * and nodes that see different rows draw differently yet reproducibly.
 * While fewer rows than sample_size have been seen the reservoir is all of
 * them, in arrival order.  Two reservoirs of n_a and n_b rows merge into a
 * uniform sample of min(sample_size, n_a + n_b) rows of the union: when
 * both hold all their rows and fit together, by concatenation; otherwise
 * each slot is drawn from the first with probability (rows of the first
 * not yet drawn) / (rows of both not yet drawn), i.e. a hypergeometric
 * split, taking a uniformly chosen not yet taken row of that reservoir,
 * with the first state's generator.  The result is deterministic given the
 * order of the rows and of the merges.
 *
 * Initialisation.  The final function runs gmm_fit's initialisation
 * (k-means by default; covariance_type, init_params, random_state,
 * reg_covar, n_init, weights_init, means_init, precisions_init as gmm_fit)
 * on the sample with max_iter 0: n_iter 0, no lower bound, log_likelihood
 * and n_samples of the sample.  The stored options (max_iter, tol, ...) are
 * those given, for gmm_em_step and gmm_train to continue with.  With no
 * more rows than sample_size the sample is every row in scan order, so
 * gmm_init equals gmm_fit with max_iter 0 over the same rows.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "port/pg_bswap.h"
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
#define GMM_INIT_WIRE_HEADER		68
#define GMM_INIT_DEFAULT_SAMPLE		10000
#define GMM_INIT_DEFAULT_PER_COMP	100

typedef struct GmmInitState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		version;		/* GMM_INIT_STATE_VERSION */
	uint8		reserved8[3];	/* zero */
	int32		k;				/* n_components */
	int32		d;				/* features */
	int32		sample_size;	/* reservoir bound */
	int32		nsample;		/* rows in the reservoir */
	int32		cap;			/* rows allocated */
	int32		options_bytes;	/* VARSIZE of the options jsonb, 0 if none */
	int64		n_seen;			/* rows offered to the reservoir */
	uint64		rng[4];			/* GmmRng */
	double		data[FLEXIBLE_ARRAY_MEMBER];	/* options jsonb, then rows */
} GmmInitState;

#define INIT_HEADER_SIZE	offsetof(GmmInitState, data)

static Jsonb *
InitOptions(GmmInitState *s)
{
	return s->options_bytes > 0 ? (Jsonb *) s->data : NULL;
}

static double *
InitRows(GmmInitState *s)
{
	return s->data + MAXALIGN(s->options_bytes) / sizeof(double);
}

static Size
InitStateSize(int d, int cap, int options_bytes)
{
	Size		size = add_size(INIT_HEADER_SIZE, MAXALIGN(options_bytes));

	size = add_size(size, mul_size(mul_size(cap, d), sizeof(double)));
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
}

/* stream number of a state's generator: FNV-1a of the first row's bits */
static uint64
RowStream(const double *x, int d)
{
	uint64		h = UINT64CONST(0xcbf29ce484222325);

	for (int i = 0; i < d; i++)
	{
		uint64		bits;

		memcpy(&bits, &x[i], sizeof(bits));
		for (int b = 0; b < 64; b += 8)
		{
			h ^= (bits >> b) & 0xff;
			h *= UINT64CONST(0x100000001b3);
		}
	}
	return h;
}

/* a copy of s with room for cap rows, in CurrentMemoryContext */
static GmmInitState *
InitStateResize(GmmInitState *s, int cap)
{
	Size		size = InitStateSize(s->d, cap, s->options_bytes);
	GmmInitState *n = palloc(size);
	Size		used = (char *) (InitRows(s) + (size_t) s->nsample * s->d) - (char *) s;

	memcpy(n, s, used);
	SET_VARSIZE(n, size);
	n->cap = cap;
	return n;
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

/* a new state on the first row, in CurrentMemoryContext */
static GmmInitState *
InitStateCreate(FunctionCallInfo fcinfo, int k, const double *x, int d)
{
	Jsonb	   *opts = NULL;
	GmmOptions	o;
	int			m;
	int			obytes;
	int			cap;
	GmmInitState *s;
	GmmRng		rng;

	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		opts = PG_GETARG_JSONB_P(3);
	InitParseOptions(opts, k, &o, &m);
	obytes = opts ? (int) VARSIZE(opts) : 0;
	cap = Min(m, 1024);
	s = palloc0(InitStateSize(d, cap, obytes));
	SET_VARSIZE(s, InitStateSize(d, cap, obytes));
	s->version = GMM_INIT_STATE_VERSION;
	s->k = k;
	s->d = d;
	s->sample_size = m;
	s->cap = cap;
	s->options_bytes = obytes;
	if (opts)
		memcpy(s->data, opts, obytes);
	gmm_rng_seed(&rng, o.fit.random_state, RowStream(x, d));
	memcpy(s->rng, rng.s, sizeof(s->rng));
	return s;
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
	GmmRng		rng;

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
		x = read(PG_GETARG_DATUM(1), 0, NULL, &d, &to_free);
		s = InitStateCreate(fcinfo, k, x, d);
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
		x = read(PG_GETARG_DATUM(1), s->d, "the first row of the aggregate", &d, &to_free);
	}

	/* Algorithm R */
	memcpy(rng.s, s->rng, sizeof(rng.s));
	s->n_seen++;
	if (s->nsample < s->sample_size)
	{
		if (s->nsample == s->cap)
			s = InitStateResize(s, (int) Min((int64) s->sample_size, 2 * (int64) s->cap));
		memcpy(InitRows(s) + (size_t) s->nsample * d, x, sizeof(double) * d);
		s->nsample++;
	}
	else
	{
		uint64		j = (uint64) (gmm_rng_uniform(&rng) * (double) s->n_seen);

		if (j < (uint64) s->sample_size)
			memcpy(InitRows(s) + (size_t) j * d, x, sizeof(double) * d);
		memcpy(s->rng, rng.s, sizeof(rng.s));
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
 * Merge two samples (STRICT).  The result is a new state (or, as an
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
	int64		total;
	int			c;
	GmmInitState *r;

	if (a->k != b->k || a->d != b->d || a->sample_size != b->sample_size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot combine gmm_init_state values of different shapes"),
				 errdetail("One has %d components, %d features and sample_size %d; the other %d, %d and %d.",
						   a->k, a->d, a->sample_size, b->k, b->d, b->sample_size)));
	if (a->options_bytes != b->options_bytes ||
		(oa && memcmp(oa, ob, a->options_bytes) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot combine gmm_init_state values with different options")));

	total = a->n_seen + b->n_seen;
	c = (int) Min((int64) a->sample_size, total);
	if (c > a->cap || !AggCheckCallContext(fcinfo, NULL) ||
		(Pointer) a != DatumGetPointer(PG_GETARG_DATUM(0)))
		r = InitStateResize(a, Max(c, 1));
	else
		r = a;

	if (a->n_seen == a->nsample && b->n_seen == b->nsample &&
		(int64) a->nsample + b->nsample <= a->sample_size)
	{
		/* every row of both fits: all of them, the first's rows first */
		memcpy(InitRows(r) + (size_t) a->nsample * d, InitRows(b),
			   sizeof(double) * b->nsample * d);
		r->nsample = a->nsample + b->nsample;
	}
	else
	{
		/* a hypergeometric split, each side a uniform subset of its sample */
		int			na = a->nsample;
		int			nb = b->nsample;
		int64		popa = a->n_seen;
		int64		popb = b->n_seen;
		int		   *ia = palloc(sizeof(int) * Max(na, 1));
		int		   *ib = palloc(sizeof(int) * Max(nb, 1));
		double	   *ra = palloc(sizeof(double) * (size_t) Max(na, 1) * d);
		double	   *out = palloc(sizeof(double) * (size_t) Max(c, 1) * d);
		GmmRng		rng;

		memcpy(ra, InitRows(a), sizeof(double) * (size_t) na * d);
		memcpy(rng.s, a->rng, sizeof(rng.s));
		for (int i = 0; i < na; i++)
			ia[i] = i;
		for (int i = 0; i < nb; i++)
			ib[i] = i;
		for (int i = 0; i < c; i++)
		{
			bool		from_a = gmm_rng_uniform(&rng) * (double) (popa + popb) < (double) popa;
			int		   *idx = from_a ? ia : ib;
			int		   *left = from_a ? &na : &nb;
			int			t;
			const double *src;

			if (*left == 0)
				elog(ERROR, "gmm_init: reservoir merge ran out of rows");
			t = (int) (gmm_rng_uniform(&rng) * (double) *left);
			if (t >= *left)
				t = *left - 1;
			src = from_a ? ra + (size_t) idx[t] * d : InitRows(b) + (size_t) idx[t] * d;
			memcpy(out + (size_t) i * d, src, sizeof(double) * d);
			idx[t] = idx[--(*left)];
			if (from_a)
				popa--;
			else
				popb--;
		}
		memcpy(InitRows(r), out, sizeof(double) * (size_t) c * d);
		r->nsample = c;
		memcpy(r->rng, rng.s, sizeof(rng.s));
		pfree(ia);
		pfree(ib);
		pfree(ra);
		pfree(out);
	}
	r->n_seen = total;
	PG_RETURN_POINTER(r);
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
	m = gmm_fit_rows(InitRows(s), NULL, s->nsample, s->d, s->k, &o, NULL,
					 "gmm_init");
	m->max_iter = max_iter;
	PG_RETURN_GMM_P(m);
}

/* ---------------------------------------------------------------------
 * I/O.  Binary format, big-endian:
 *
 *	0	4	uint32		magic 0x474D4953 ("GMIS")
 *	4	1	uint8		format version (1)
 *	5	3	uint8[3]	reserved, zero
 *	8	4	int32		n_components (K)
 *	12	4	int32		n_features (D)
 *	16	4	int32		sample_size (M)
 *	20	4	int32		rows in the sample (S = min(M, N))
 *	24	8	int64		rows seen (N)
 *	32	32	uint64[4]	generator state, not all zero
 *	64	4	int32		length of the options (L, 0: none)
 *	68	L	bytes		options, JSON text
 *		8SD	float8[]	the sample, S x D
 *
 * Input parses the options as gmm_init does and checks that they give M.
 * The text form is the same bytes in hex.
 * ---------------------------------------------------------------------
 */

static void
BadInit(int code, const char *msg)
{
	ereport(ERROR,
			(errcode(code),
			 errmsg("invalid gmm_init_state: %s", msg)));
}

static GmmInitState *
InitStateDecode(const char *data, size_t len, int code)
{
	StringInfoData buf;
	int32		k,
				d,
				m,
				ns,
				olen;
	int64		nseen;
	uint64		rng[4];
	Jsonb	   *opts = NULL;
	GmmOptions	o;
	int			m2;
	GmmInitState *s;
	double	   *rows;

	if (len < GMM_INIT_WIRE_HEADER)
		BadInit(code, "truncated");
	buf.data = (char *) data;
	buf.len = (int) len;
	buf.maxlen = (int) len;
	buf.cursor = 0;
	if ((uint32) pq_getmsgint(&buf, 4) != GMM_INIT_STATE_MAGIC)
		BadInit(code, "wrong magic number");
	if (pq_getmsgbyte(&buf) != GMM_INIT_STATE_VERSION)
		ereport(ERROR,
				(errcode(code),
				 errmsg("unsupported gmm_init_state format version"),
				 errdetail("This version of the extension reads format version %d.",
						   GMM_INIT_STATE_VERSION)));
	if (pq_getmsgbyte(&buf) != 0 || pq_getmsgbyte(&buf) != 0 ||
		pq_getmsgbyte(&buf) != 0)
		BadInit(code, "non-zero reserved field");
	k = (int32) pq_getmsgint(&buf, 4);
	d = (int32) pq_getmsgint(&buf, 4);
	m = (int32) pq_getmsgint(&buf, 4);
	ns = (int32) pq_getmsgint(&buf, 4);
	nseen = pq_getmsgint64(&buf);
	for (int i = 0; i < 4; i++)
		rng[i] = (uint64) pq_getmsgint64(&buf);
	olen = (int32) pq_getmsgint(&buf, 4);
	if (k < 1 || k > GMM_MAX_COMPONENTS || d < 1 || d > GMM_MAX_FEATURES)
		BadInit(code, "bad shape");
	if (m < k || ns < 0 || ns > m || nseen < 0 || ns != Min((int64) m, nseen))
		BadInit(code, "inconsistent sample size and row counts");
	if ((rng[0] | rng[1] | rng[2] | rng[3]) == 0)
		BadInit(code, "generator state is zero");
	if (olen < 0 || (uint64) len != GMM_INIT_WIRE_HEADER + (uint64) olen +
		8 * (uint64) ns * d)
		ereport(ERROR,
				(errcode(code),
				 errmsg("invalid gmm_init_state: wrong length"),
				 errdetail("Found %zu bytes.", len)));
	if (olen > 0)
	{
		char	   *txt = pnstrdup(data + buf.cursor, olen);

		if (strlen(txt) != (size_t) olen)
			BadInit(code, "options contain a zero byte");
		opts = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(txt)));
		buf.cursor += olen;
	}
	InitParseOptions(opts, k, &o, &m2);
	if (m2 != m)
		BadInit(code, "sample_size does not match the options");

	s = palloc0(InitStateSize(d, Max(ns, 1), opts ? VARSIZE(opts) : 0));
	SET_VARSIZE(s, InitStateSize(d, Max(ns, 1), opts ? VARSIZE(opts) : 0));
	s->version = GMM_INIT_STATE_VERSION;
	s->k = k;
	s->d = d;
	s->sample_size = m;
	s->nsample = ns;
	s->cap = Max(ns, 1);
	s->options_bytes = opts ? VARSIZE(opts) : 0;
	if (opts)
		memcpy(s->data, opts, s->options_bytes);
	s->n_seen = nseen;
	memcpy(s->rng, rng, sizeof(rng));
	rows = InitRows(s);
	for (size_t i = 0; i < (size_t) ns * d; i++)
	{
		double		x = pq_getmsgfloat8(&buf);

		if (!isfinite(x))
			BadInit(code, "a sampled value is not finite");
		rows[i] = (x == 0.0) ? 0.0 : x;
	}
	return s;
}

static bytea *
InitStateEncode(GmmInitState *s)
{
	StringInfoData buf;
	Jsonb	   *opts = InitOptions(s);
	char	   *txt = opts ? JsonbToCString(NULL, &opts->root, VARSIZE(opts)) : NULL;
	const double *rows = InitRows(s);

	pq_begintypsend(&buf);
	pq_sendint32(&buf, GMM_INIT_STATE_MAGIC);
	pq_sendbyte(&buf, s->version);
	pq_sendbyte(&buf, 0);
	pq_sendbyte(&buf, 0);
	pq_sendbyte(&buf, 0);
	pq_sendint32(&buf, s->k);
	pq_sendint32(&buf, s->d);
	pq_sendint32(&buf, s->sample_size);
	pq_sendint32(&buf, s->nsample);
	pq_sendint64(&buf, s->n_seen);
	for (int i = 0; i < 4; i++)
		pq_sendint64(&buf, (int64) s->rng[i]);
	pq_sendint32(&buf, txt ? (int32) strlen(txt) : 0);
	if (txt)
		pq_sendbytes(&buf, txt, strlen(txt));
	for (size_t i = 0; i < (size_t) s->nsample * s->d; i++)
		pq_sendfloat8(&buf, rows[i]);
	return pq_endtypsend(&buf);
}

PG_FUNCTION_INFO_V1(gmm_init_state_recv);
Datum
gmm_init_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	GmmInitState *s;

	s = InitStateDecode(buf->data + buf->cursor, buf->len - buf->cursor,
						ERRCODE_INVALID_BINARY_REPRESENTATION);
	buf->cursor = buf->len;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(gmm_init_state_send);
Datum
gmm_init_state_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(InitStateEncode((GmmInitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0))));
}

PG_FUNCTION_INFO_V1(gmm_init_state_in);
Datum
gmm_init_state_in(PG_FUNCTION_ARGS)
{
	size_t		len;
	char	   *bytes = gmm_state_hex_decode(PG_GETARG_CSTRING(0),
											 "gmm_init_state", &len);

	PG_RETURN_POINTER(InitStateDecode(bytes, len,
									  ERRCODE_INVALID_TEXT_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(gmm_init_state_out);
Datum
gmm_init_state_out(PG_FUNCTION_ARGS)
{
	GmmInitState *s = (GmmInitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));

	PG_RETURN_CSTRING(gmm_state_hex_encode(InitStateEncode(s)));
}
