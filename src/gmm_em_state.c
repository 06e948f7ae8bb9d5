/*
 * gmm_em_state.c
 *	  The gmm_em_state type: the state of gmm_em_step (one EM pass), its
 *	  layout helpers, and its binary and text I/O.
 *
 * Binary format (send/recv; the text form is the same bytes in lower-case
 * hex).  Integers and floats big-endian, floats IEEE 754 binary64:
 *
 *	offset	size	type		field
 *	0		4		uint32		magic 0x474D4553 ("GMES")
 *	4		1		uint8		format version (1)
 *	5		1		uint8		covariance type, as the gmm format
 *	6		1		uint8		flags: 0x02 = missing => 'em' (gmm 1.2:
 *								buffered rows may hold NaN, a missing
 *								value, and the missing count follows the
 *								weights), else zero
 *								and 0x01 = a sketch
 *	7		1		uint8		reserved, zero
 *	8		4		int32		n_components (K)
 *	12		4		int32		n_features (D)
 *	16		4		int32		buffered rows (R, 0 .. 255)
 *	20		4		int32		length of the model (L)
 *	24		8		uint64		model fingerprint
 *	32		8		int64		rows in the statistics
 *	40		8		float8		sum of their weights
 *	48		8		float8		sum of their weighted log-likelihoods
 *	56		L		bytes		the model, in the gmm binary format
 *			8K		float8[]	s0: sum of w r per component
 *			8KD		float8[]	s1: sum of w r (x - shift), K x D
 *			8S		float8[]	s2: second moments about the shift
 *								(full K x D x D, tied D x D, diag and
 *								spherical K x D)
 *			8RD		float8[]	buffered rows, R x D
 *			8R		float8[]	their weights
 *			8		int64		flag 0x02 only: missing values of the rows in
 *								the statistics
 *
 * gmm 1.0 and 1.1 wrote no flag: their states read the same.
 *	with flag 0x01 (a sketch: gmm_calibrate and gmm_train's final pass):
 *			4		uint32		W, words of the sketch
 *			8W		uint64[]	the sketch, gmm_sketch_pack's words
 *
 * The state is transient (it lives for one aggregate, between workers and
 * Citus nodes of one query), so the sketch flag changed the format without
 * a new version: a state without it has the bytes of before.
 *
 * The shift is not sent: it is a function of the model's means (and, tied,
 * weights), recomputed on input exactly as on the sending node.  The
 * fingerprint is FNV-1a over the model's gmm binary format, which holds
 * only primary fields in a platform-independent encoding, so two nodes
 * agree on it even if their LAPACK rounds the derived Cholesky factors
 * differently.  Input recomputes it from the decoded model and rejects a
 * mismatch.
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "gmm.h"
#include "gmm_compat.h"
#include "gmm_em_state.h"
#include "gmm_fit.h"

#define GMM_EM_STATE_MAGIC			0x474D4553	/* "GMES" */
#define GMM_EM_STATE_WIRE_HEADER	56

/* gmm_binary.c: the gmm type's bytea casts (its binary format) */
extern Datum gmm_to_bytea(PG_FUNCTION_ARGS);
extern Datum gmm_from_bytea(PG_FUNCTION_ARGS);

/* FNV-1a, 64 bits: platform-independent and good enough to tell models apart */
static uint64
Fnv1a64(const unsigned char *p, size_t n)
{
	uint64		h = UINT64CONST(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++)
	{
		h ^= p[i];
		h *= UINT64CONST(0x100000001b3);
	}
	return h;
}

/* fingerprint of a model: FNV-1a of its gmm binary format */
uint64
gmm_model_fingerprint(GmmModel *m)
{
	bytea	   *b = DatumGetByteaPP(DirectFunctionCall1(gmm_to_bytea,
														PointerGetDatum(m)));
	uint64		h = Fnv1a64((unsigned char *) VARDATA_ANY(b),
							VARSIZE_ANY_EXHDR(b));

	pfree(b);
	return h;
}

/* doubles of the second-moment statistics, as em.c lays them out */
static size_t
S2Size(GmmCovType t, int k, int d)
{
	if (t == GMM_COV_FULL)
		return (size_t) k * d * d;
	if (t == GMM_COV_TIED)
		return (size_t) d * d;
	return (size_t) k * d;
}

/*
 * Bytes of a state; raises ERRCODE_PROGRAM_LIMIT_EXCEEDED beyond
 * MaxAllocSize.  k and d are within the gmm limits (the model exists).
 */
static Size
StateSize(GmmCovType t, int k, int d, Size model_bytes, uint8 flags)
{
	Size		nd;
	Size		size;

	nd = gmm_stats_ndoubles(t, k, d);
	nd = add_size(nd, mul_size(GMM_EM_BUF_ROWS, add_size(d, 1)));
	size = add_size(add_size(GMM_EM_STATE_HEADER_SIZE, MAXALIGN(model_bytes)),
					mul_size(nd, sizeof(double)));
	if (flags & GMM_EM_STATE_SKETCH)
		size = add_size(size, MAXALIGN(sizeof(GmmSketch)));
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gmm_em_state is too large"),
				 errdetail("A pass over a model of %d components and %d features with %s covariance needs %zu bytes, the maximum is %zu.",
						   k, d, gmm_cov_type_name(t), size, (Size) MaxAllocSize)));
	return size;
}

Size
gmm_em_state_size(GmmCovType t, int k, int d, Size model_bytes)
{
	return StateSize(t, k, d, model_bytes, 0);
}

void
gmm_em_state_view(GmmEmState *s, GmmEmView *v)
{
	GmmCovType	t = (GmmCovType) s->cov_type;
	double	   *stats;

	if (s->version != GMM_EM_STATE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("unsupported gmm_em_state format version %d", s->version),
				 errdetail("This version of the extension reads format version %d.",
						   GMM_EM_STATE_VERSION),
				 errhint("gmm_em_state is a transient aggregate state: compute it again with this version.")));
	v->model = (GmmModel *) s->data;
	gmm_model_params(v->model, &v->params);
	stats = s->data + MAXALIGN(s->model_bytes) / sizeof(double);
	gmm_stats_bind(&v->stats, t, s->k, s->d, stats);
	v->stats.n_rows = s->n_rows;
	v->stats.sum_w = s->sum_w;
	v->stats.sum_loglik = s->sum_loglik;
	v->xbuf = stats + gmm_stats_ndoubles(t, s->k, s->d);
	v->wbuf = v->xbuf + (size_t) GMM_EM_BUF_ROWS * s->d;
	v->sketch = (s->flags & GMM_EM_STATE_SKETCH) ?
		(GmmSketch *) (v->wbuf + GMM_EM_BUF_ROWS) : NULL;
	v->stats.sketch = v->sketch;
}

void
gmm_em_state_store_counters(GmmEmState *s, const GmmStats *st)
{
	s->n_rows = st->n_rows;
	s->sum_w = st->sum_w;
	s->sum_loglik = st->sum_loglik;
}

/*
 * A new state for a pass against model m (a valid, detoasted gmm), in
 * CurrentMemoryContext: the model copied once, statistics zeroed and
 * shifted by the model's means, nothing buffered.  key, if not NULL, is
 * copied after the buffer as the state's model key (gmm_em_state_key).
 */
GmmEmState *
gmm_em_state_create(GmmModel *m, const struct varlena *key)
{
	return gmm_em_state_create_flags(m, key, 0);
}

/* the same with flags (GMM_EM_STATE_SKETCH: an empty sketch for the model) */
GmmEmState *
gmm_em_state_create_flags(GmmModel *m, const struct varlena *key, uint8 flags)
{
	GmmCovType	t = (GmmCovType) m->cov_type;
	Size		mbytes = VARSIZE(m);
	Size		size = StateSize(t, m->n_components, m->n_features,
								 mbytes, flags);
	Size		kbytes = key != NULL ? VARSIZE_ANY(key) : 0;
	GmmEmState *s;
	GmmEmView	v;

	if (add_size(size, kbytes) > MaxAllocSize)
		kbytes = 0;				/* no key: every row is compared in full */
	s = (GmmEmState *) palloc0(size + kbytes);
	SET_VARSIZE(s, size + kbytes);
	s->version = GMM_EM_STATE_VERSION;
	s->flags = flags;
	s->cov_type = m->cov_type;
	s->n_missing = 0;
	s->k = m->n_components;
	s->d = m->n_features;
	s->model_bytes = (int32) mbytes;
	memcpy(s->data, m, mbytes);
	s->fingerprint = gmm_model_fingerprint(m);
	if (kbytes > 0)
	{
		memcpy((char *) s + size, key, kbytes);
		s->key_bytes = (int64) kbytes;
	}
	gmm_em_state_view(s, &v);
	gmm_stats_reset(&v.stats, &v.params);
	if (v.sketch)
		gmm_sketch_init_model(v.sketch, &v.params);
	return s;
}

/*
 * The state's model key, or NULL.  The key sits at the end of the state, so
 * a copy of the state (VARSIZE bytes) keeps it.
 */
const struct varlena *
gmm_em_state_key(const GmmEmState *s)
{
	if (s->key_bytes <= 0 || (Size) s->key_bytes >= VARSIZE(s))
		return NULL;
	return (const struct varlena *) ((const char *) s + VARSIZE(s) - s->key_bytes);
}

/*
 * The blocked E-step of n rows (n <= GMM_EM_BUF_ROWS, weights > 0) against
 * p, added into st.  The core's workspace is kept for the backend's life.
 */
void
gmm_em_accumulate(GmmStats *st, const GmmParams *p, const double *X,
				  const double *w, int n, int64 *n_missing)
{
	static double *work = NULL;
	static size_t work_n = 0;
	size_t		need = gmm_stats_work_ndoubles(p->cov_type, p->k, p->d);
	GmmHooks	hooks;

	if (n <= 0)
		return;
	if (need > work_n)
	{
		if (work)
			pfree(work);
		work = NULL;
		work = MemoryContextAllocHuge(TopMemoryContext, sizeof(double) * need);
		work_n = need;
	}
	gmm_core_hooks(&hooks);
	if (gmm_rows_have_nan(X, (size_t) n, p->d))
	{
		/* missing => 'em': EM under missing at random (em_missing.c) */
		int64_t		nm = 0;
		int			bad = -1;
		GmmStatus	status;

		status = gmm_stats_accumulate_missing(st, p, X, w, (size_t) n, &hooks,
											  &nm, &bad);
		gmm_report_status(status, bad, st->n_rows, p->k);
		*n_missing += nm;
		return;
	}
	gmm_stats_accumulate(st, p, X, w, (size_t) n, work, &hooks);
}

/* ERROR unless a and b are passes of the same shape against the same model */
void
gmm_em_state_check_compatible(const GmmEmState *a, const GmmEmState *b)
{
	if (a->k != b->k || a->d != b->d || a->cov_type != b->cov_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot combine gmm_em_state values of different shapes"),
				 errdetail("One has %d components, %d features and %s covariance; the other %d components, %d features and %s covariance.",
						   a->k, a->d,
						   gmm_cov_type_name((GmmCovType) a->cov_type),
						   b->k, b->d,
						   gmm_cov_type_name((GmmCovType) b->cov_type))));
	if ((a->flags & GMM_EM_FLAG_MISSING) != (b->flags & GMM_EM_FLAG_MISSING))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot combine gmm_em_state values of different missing options"),
				 errdetail("One pass took missing => 'em', the other did not.")));
	if ((a->flags & GMM_EM_STATE_SKETCH) != (b->flags & GMM_EM_STATE_SKETCH))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot combine a gmm_em_state with a sketch and one without"),
				 errhint("Combine states of the same aggregate (gmm_em_step or gmm_calibrate).")));
	if (a->fingerprint != b->fingerprint)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot combine gmm_em_state values of different models"),
				 errdetail("The model fingerprints are %016" GMM_UINT64_HEX " and %016" GMM_UINT64_HEX ".",
						   a->fingerprint, b->fingerprint),
				 errhint("Pass the same model on every row of gmm_em_step.")));
}

/* ---------------------------------------------------------------------
 * Binary and text I/O
 * ---------------------------------------------------------------------
 */

/* n finite doubles (not negative if nonneg, positive if positive) */
static void
ReadChecked(GmmWireReader *r, double *out, size_t n, const char *what, bool nonneg,
			bool positive)
{
	for (size_t i = 0; i < n; i++)
	{
		double		x = gmm_wire_f8(r);

		if (!isfinite(x) || (nonneg && x < 0) || (positive && !(x > 0)))
			ereport(ERROR,
					(errcode(r->errcode),
					 errmsg("invalid gmm_em_state: %s[%zu] is %s", what, i,
							float8out_internal(x)),
					 errdetail("%s must be finite%s.", what,
							   positive ? " and positive" :
							   nonneg ? " and not negative" : "")));
		out[i] = (x == 0.0) ? 0.0 : x;
	}
}

static void
BadState(GmmWireReader *r, const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(r->errcode),
			 errmsg("invalid gmm_em_state: %s", msg),
			 detail ? errdetail("%s", detail) : 0));
}

/*
 * What the sums must satisfy whatever the rows were: each row's
 * responsibilities sum to 1, so s0 sums to the total weight (to rounding);
 * second moments about the shift have a non-negative diagonal; rows imply
 * weight.
 */
static void
CheckStatsConsistent(GmmWireReader *r, const GmmStats *st, int64 n_rows, double sum_w)
{
	int			k = st->k;
	int			d = st->d;
	double		s0 = 0.0;

	if ((n_rows > 0) != (sum_w > 0))
		BadState(r, "inconsistent row count, weight or log-likelihood sums", NULL);
	for (int j = 0; j < k; j++)
		s0 += st->s0[j];
	if (!(fabs(s0 - sum_w) <= 1e-8 * sum_w))
		ereport(ERROR,
				(errcode(r->errcode),
				 errmsg("invalid gmm_em_state: the responsibilities do not sum to the weight of the rows"),
				 errdetail("They sum to %s; the rows weigh %s.",
						   float8out_internal(s0), float8out_internal(sum_w))));
	for (int j = 0; j < (st->cov_type == GMM_COV_TIED ? 1 : k); j++)
		for (int t = 0; t < d; t++)
		{
			double		v = (st->cov_type == GMM_COV_FULL || st->cov_type == GMM_COV_TIED) ?
				st->s2[(size_t) j * d * d + (size_t) t * d + t] : st->s2[(size_t) j * d + t];

			if (v < 0)
				BadState(r, "a second moment is negative", NULL);
		}
}

/* decode and validate a state from the binary format */
static GmmEmState *
EmStateDecode(const char *data, size_t len, int code)
{
	GmmWireReader r = {data, len, 0, "gmm_em_state", code};
	uint32		magic;
	uint8		version,
				cov_type,
				flags,
				reserved;
	int32		k,
				d,
				nbuf,
				mlen;
	uint64		fp;
	int64		n_rows;
	double		sum_w,
				sum_loglik;
	int64		n_missing;
	uint64		expected;
	bytea	   *mb;
	GmmModel   *m;
	GmmEmState *s;
	GmmEmView	v;

	magic = gmm_wire_u32(&r);
	if (magic != GMM_EM_STATE_MAGIC)
		BadState(&r, "wrong magic number", NULL);
	version = (uint8) *gmm_wire_bytes(&r, 1);
	cov_type = (uint8) *gmm_wire_bytes(&r, 1);
	flags = (uint8) *gmm_wire_bytes(&r, 1);
	reserved = (uint8) *gmm_wire_bytes(&r, 1);
	if (version != GMM_EM_WIRE_VERSION)
		ereport(ERROR,
				(errcode(code),
				 errmsg("unsupported gmm_em_state format version %d", version),
				 errdetail("This version of the extension reads format version %d.",
						   GMM_EM_WIRE_VERSION)));
	if ((flags & ~(GMM_EM_FLAG_MISSING | GMM_EM_STATE_SKETCH)) != 0 || reserved != 0)
		BadState(&r, "unknown flags or non-zero reserved field", NULL);
	if (cov_type >= GMM_COV_NTYPES)
		BadState(&r, "bad covariance type code", NULL);
	k = (int32) gmm_wire_u32(&r);
	d = (int32) gmm_wire_u32(&r);
	nbuf = (int32) gmm_wire_u32(&r);
	mlen = (int32) gmm_wire_u32(&r);
	if (k < 1 || k > GMM_MAX_COMPONENTS || d < 1 || d > GMM_MAX_FEATURES)
		ereport(ERROR,
				(errcode(code),
				 errmsg("invalid gmm_em_state: bad shape"),
				 errdetail("%d components and %d features; the limits are %d and %d.",
						   k, d, GMM_MAX_COMPONENTS, GMM_MAX_FEATURES)));
	if (nbuf < 0 || nbuf >= GMM_EM_BUF_ROWS)
		ereport(ERROR,
				(errcode(code),
				 errmsg("invalid gmm_em_state: %d buffered rows", nbuf),
				 errdetail("A state buffers 0 to %d rows.", GMM_EM_BUF_ROWS - 1)));
	if (mlen < 1)
		BadState(&r, "bad model length", NULL);
	fp = gmm_wire_u64(&r);
	n_rows = (int64) gmm_wire_u64(&r);
	sum_w = gmm_wire_f8(&r);
	sum_loglik = gmm_wire_f8(&r);
	Assert(r.pos == GMM_EM_STATE_WIRE_HEADER);

	/* with k, d within the limits none of this overflows 64 bits */
	expected = GMM_EM_STATE_WIRE_HEADER + (uint64) mlen +
		8 * ((uint64) k + (uint64) k * d + S2Size(cov_type, k, d) +
			 (uint64) nbuf * (d + 1)) + ((flags & GMM_EM_FLAG_MISSING) ? 8 : 0);
	if (flags & GMM_EM_STATE_SKETCH)
	{
		/* the sketch's word count sits right after the buffered weights */
		uint32		nw;

		if (len < expected + 4)
			BadState(&r, "wrong length", NULL);
		memcpy(&nw, data + expected, 4);
		nw = pg_ntoh32(nw);
		expected += 4 + 8 * (uint64) nw;
	}
	if (expected != len)
		ereport(ERROR,
				(errcode(code),
				 errmsg("invalid gmm_em_state: wrong length"),
				 errdetail("Found %zu bytes, expected " UINT64_FORMAT ".",
						   len, expected)));
	if (n_rows < 0 || !isfinite(sum_w) || sum_w < 0 || !isfinite(sum_loglik) ||
		(n_rows == 0 && (sum_w != 0 || sum_loglik != 0)))
		BadState(&r, "inconsistent row count, weight or log-likelihood sums",
				 NULL);

	/* the model: validated exactly as the gmm type's binary input */
	mb = (bytea *) palloc(VARHDRSZ + mlen);
	SET_VARSIZE(mb, VARHDRSZ + mlen);
	memcpy(VARDATA(mb), gmm_wire_bytes(&r, mlen), mlen);
	m = (GmmModel *) DatumGetPointer(DirectFunctionCall1(gmm_from_bytea,
														 PointerGetDatum(mb)));
	if (m->n_components != k || m->n_features != d || m->cov_type != cov_type)
		BadState(&r, "the model does not have the state's shape", NULL);
	s = gmm_em_state_create_flags(m, NULL, flags);
	if (s->fingerprint != fp)
		BadState(&r, "the fingerprint does not match the model", NULL);

	gmm_em_state_view(s, &v);
	ReadChecked(&r, v.stats.s0, k, "s0", true, false);
	ReadChecked(&r, v.stats.s1, (size_t) k * d, "s1", false, false);
	ReadChecked(&r, v.stats.s2, S2Size(cov_type, k, d), "s2", false, false);
	if (flags & GMM_EM_FLAG_MISSING)
	{
		/* NaN is a missing value here; a row must keep one observed value */
		for (int i = 0; i < nbuf; i++)
		{
			int			nnan = 0;

			for (int t = 0; t < d; t++)
			{
				double		x = gmm_wire_f8(&r);

				if (isinf(x))
					ereport(ERROR,
							(errcode(r.errcode),
							 errmsg("invalid gmm_em_state: buffered rows[%zu] is %s",
									(size_t) i * d + t, float8out_internal(x)),
							 errdetail("buffered rows must be finite or NaN (missing).")));
				nnan += isnan(x) ? 1 : 0;
				v.xbuf[(size_t) i * d + t] = isnan(x) ? get_float8_nan() :
					(x == 0.0) ? 0.0 : x;
			}
			if (nnan == d)
				BadState(&r, "a buffered row has no observed value", NULL);
		}
	}
	else
		ReadChecked(&r, v.xbuf, (size_t) nbuf * d, "buffered rows", false, false);
	ReadChecked(&r, v.wbuf, nbuf, "buffered weights", false, true);
	n_missing = (flags & GMM_EM_FLAG_MISSING) ? (int64) gmm_wire_u64(&r) : 0;
	if (v.sketch)
	{
		uint32		nw = gmm_wire_u32(&r);
		uint64	   *words = palloc(sizeof(uint64) * (nw > 0 ? nw : 1));
		GmmSketch  *fresh = palloc(sizeof(GmmSketch));

		for (uint32 i = 0; i < nw; i++)
			words[i] = gmm_wire_u64(&r);
		memcpy(fresh, v.sketch, sizeof(GmmSketch));
		if (!gmm_sketch_unpack(v.sketch, words, nw))
			BadState(&r, "invalid sketch", NULL);
		if (!gmm_sketch_compatible(v.sketch, fresh))
			BadState(&r, "the sketch was not made for the state's model", NULL);
		if (v.sketch->n_rows > n_rows)
			BadState(&r, "the sketch has more rows than the statistics", NULL);
		pfree(words);
		pfree(fresh);
	}
	Assert(r.pos == r.len);
	if (n_missing < 0 || (double) n_missing > (double) n_rows * (d - 1))
		BadState(&r, "bad count of missing values", NULL);
	CheckStatsConsistent(&r, &v.stats, n_rows, sum_w);
	s->nbuf = nbuf;
	s->flags = flags;
	s->n_missing = n_missing;
	s->n_rows = n_rows;
	s->sum_w = (sum_w == 0.0) ? 0.0 : sum_w;
	s->sum_loglik = (sum_loglik == 0.0) ? 0.0 : sum_loglik;
	pfree(mb);
	pfree(m);
	return s;
}

static void
SendF8s(StringInfo buf, const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pq_sendfloat8(buf, x[i]);
}

/* encode a state in the binary format (the state is only read) */
static bytea *
EmStateEncode(GmmEmState *s)
{
	StringInfoData buf;
	GmmEmView	v;
	GmmCovType	t = (GmmCovType) s->cov_type;
	bytea	   *mb;

	gmm_em_state_view(s, &v);
	mb = DatumGetByteaPP(DirectFunctionCall1(gmm_to_bytea,
											 PointerGetDatum(v.model)));
	pq_begintypsend(&buf);
	pq_sendint32(&buf, GMM_EM_STATE_MAGIC);
	pq_sendbyte(&buf, GMM_EM_WIRE_VERSION);
	pq_sendbyte(&buf, s->cov_type);
	pq_sendbyte(&buf, s->flags);
	pq_sendbyte(&buf, 0);
	pq_sendint32(&buf, s->k);
	pq_sendint32(&buf, s->d);
	pq_sendint32(&buf, s->nbuf);
	pq_sendint32(&buf, (int32) VARSIZE_ANY_EXHDR(mb));
	pq_sendint64(&buf, s->fingerprint);
	pq_sendint64(&buf, s->n_rows);
	pq_sendfloat8(&buf, s->sum_w);
	pq_sendfloat8(&buf, s->sum_loglik);
	pq_sendbytes(&buf, VARDATA_ANY(mb), VARSIZE_ANY_EXHDR(mb));
	SendF8s(&buf, v.stats.s0, s->k);
	SendF8s(&buf, v.stats.s1, (size_t) s->k * s->d);
	SendF8s(&buf, v.stats.s2, S2Size(t, s->k, s->d));
	SendF8s(&buf, v.xbuf, (size_t) s->nbuf * s->d);
	SendF8s(&buf, v.wbuf, s->nbuf);
	if (s->flags & GMM_EM_FLAG_MISSING)
		pq_sendint64(&buf, s->n_missing);
	if (v.sketch)
	{
		size_t		nw = gmm_sketch_packed_nwords(v.sketch);
		uint64	   *words = palloc(sizeof(uint64) * nw);

		gmm_sketch_pack(v.sketch, words);
		pq_sendint32(&buf, (uint32) nw);
		for (size_t i = 0; i < nw; i++)
			pq_sendint64(&buf, words[i]);
		pfree(words);
	}
	return pq_endtypsend(&buf);
}

PG_FUNCTION_INFO_V1(gmm_em_state_recv);
Datum
gmm_em_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	GmmEmState *s;

	s = EmStateDecode(buf->data + buf->cursor, buf->len - buf->cursor,
					  ERRCODE_INVALID_BINARY_REPRESENTATION);
	buf->cursor = buf->len;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(gmm_em_state_send);
Datum
gmm_em_state_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(EmStateEncode(DatumGetGmmEmStateP(PG_GETARG_DATUM(0))));
}

static int
HexValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Text form: the binary format in hex, so text and binary transfer (COPY,
 * Citus) carry exactly the same bits and pass the same checks.
 */
char *
gmm_state_hex_encode(const bytea *b)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(b);
	size_t		n = VARSIZE_ANY_EXHDR(b);
	char	   *out = palloc_extended(2 * n + 1, MCXT_ALLOC_HUGE);

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

char *
gmm_state_hex_decode(const char *str, const char *type, size_t *len)
{
	size_t		n = strlen(str);
	char	   *out;

	if (n == 0 || n % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", type),
				 errdetail("The text form is an even, non-zero number of hexadecimal digits.")));
	out = palloc(n / 2);
	for (size_t i = 0; i < n; i += 2)
	{
		int			hi = HexValue(str[i]);
		int			lo = HexValue(str[i + 1]);

		if (hi < 0 || lo < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s", type),
					 errdetail("Character %zu is not a hexadecimal digit.",
							   hi < 0 ? i + 1 : i + 2)));
		out[i / 2] = (char) (hi * 16 + lo);
	}
	*len = n / 2;
	return out;
}

PG_FUNCTION_INFO_V1(gmm_em_state_in);
Datum
gmm_em_state_in(PG_FUNCTION_ARGS)
{
	size_t		len;
	char	   *bytes = gmm_state_hex_decode(PG_GETARG_CSTRING(0),
											 "gmm_em_state", &len);

	PG_RETURN_POINTER(EmStateDecode(bytes, len,
									ERRCODE_INVALID_TEXT_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(gmm_em_state_out);
Datum
gmm_em_state_out(PG_FUNCTION_ARGS)
{
	GmmEmState *s = DatumGetGmmEmStateP(PG_GETARG_DATUM(0));

	PG_RETURN_CSTRING(gmm_state_hex_encode(EmStateEncode(s)));
}

/*
 * gmm_em_state_info(state): what a state holds, as jsonb, for debugging and
 * tests: shape, the model fingerprint, rows and weight so far.
 */
PG_FUNCTION_INFO_V1(gmm_em_state_info);
Datum
gmm_em_state_info(PG_FUNCTION_ARGS)
{
	GmmEmState *s = DatumGetGmmEmStateP(PG_GETARG_DATUM(0));
	GmmEmView	v;
	GmmStats	st;
	double	   *copy;
	size_t		nd = gmm_stats_ndoubles((GmmCovType) s->cov_type, s->k, s->d);
	StringInfoData buf;
	int64		n_missing;

	/* counts include the buffered rows: flush them into a copy */
	gmm_em_state_view(s, &v);
	copy = palloc(sizeof(double) * nd);
	memcpy(copy, v.stats.shift, sizeof(double) * nd);
	st = v.stats;
	gmm_stats_bind(&st, (GmmCovType) s->cov_type, s->k, s->d, copy);
	st.n_rows = v.stats.n_rows;
	st.sum_w = v.stats.sum_w;
	st.sum_loglik = v.stats.sum_loglik;
	n_missing = s->n_missing;
	gmm_em_accumulate(&st, &v.params, v.xbuf, v.wbuf, s->nbuf, &n_missing);

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"n_components\": %d, \"n_features\": %d, "
					 "\"covariance_type\": \"%s\", \"fingerprint\": \"%016" GMM_UINT64_HEX "\", "
					 "\"n_rows\": " INT64_FORMAT ", \"buffered_rows\": %d, "
					 "\"sum_weights\": %s, \"sum_log_likelihood\": %s%s}",
					 s->k, s->d, gmm_cov_type_name((GmmCovType) s->cov_type),
					 s->fingerprint, st.n_rows, s->nbuf,
					 float8out_internal(st.sum_w),
					 float8out_internal(st.sum_loglik),
					 (s->flags & GMM_EM_FLAG_MISSING) ?
					 psprintf(", \"missing\": \"em\", \"n_missing\": " INT64_FORMAT,
							  n_missing) : "");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
