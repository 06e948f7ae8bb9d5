/*
 * gmm_binary.c
 *	  Binary I/O of the gmm type (send/recv, binary COPY) and the casts to
 *	  and from bytea, which use exactly the same format and code.
 *
 * The format carries the primary fields only; prec_chol and log_det are
 * recomputed on input by gmm_model_finish, which validates everything as
 * text input does.  All integers and floats are big-endian (network order),
 * floats IEEE 754 binary64 as pq_sendfloat8 writes them.
 *
 *	offset	size	type		field
 *	0		4		uint32		magic 0x474D4D42 ("GMMB")
 *	4		1		uint8		format version (1 or 2)
 *	5		1		uint8		covariance type: 0 full, 1 tied, 2 diag, 3 spherical
 *	6		1		uint8		init_params: 0 kmeans, 1 k-means++, 2 random,
 *								3 random_from_data
 *	7		1		uint8		flags: bit 0 converged, other bits zero
 *	8		4		int32		n_components (K)
 *	12		4		int32		n_features (D)
 *	16		4		int32		n_iter
 *	20		4		int32		max_iter
 *	24		4		int32		n_init
 *	28		4		int32		number of bic_trace entries (T)
 *	32		8		int64		n_samples
 *	40		8		int64		random_state
 *	48		8		float8		sum_weights
 *	56		8		float8		lower_bound (NaN: none)
 *	64		8		float8		log_likelihood (NaN: none)
 *	72		8		float8		tol
 *	80		8		float8		reg_covar
 *	88		1		uint8		rng: 0 xoshiro256, 1 sklearn (version 2; 0 in 1)
 *	89		15		uint8[15]	reserved, zero
 *	104		8K		float8[]	weights
 *			8KD		float8[]	means, K x D row-major
 *			8C		float8[]	covariances, row-major in scikit-learn's shape:
 *								full K x D x D, tied D x D, diag K x D,
 *								spherical K (C doubles)
 *			12T				bic_trace entries: int32 n_components,
 *								float8 bic
 *
 * Version 1 ends there: its length is 104 + 8 (K + KD + C) + 12 T bytes,
 * exactly.  Version 2 goes on with its sections (gmm_sections.c):
 *
 *			4		uint32		number of sections (S)
 *	then S times:
 *			2		uint16		tag
 *			2		uint16		flags, zero
 *			4		uint32		number of doubles (W)
 *			8W		float8[]	the payload
 *
 * A model is sent in the version it is stored in (the lowest that holds
 * it), so a model without sections has the same bytes as in gmm 1.0.  Input
 * checks the remaining length before every read and the total length before
 * allocating, so truncated or random bytes raise an error.
 */
#include "postgres.h"

#include "libpq/pqformat.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"

#include "gmm.h"

#define GMM_BINARY_MAGIC		0x474D4D42	/* "GMMB" */
#define GMM_BINARY_HEADER_SIZE	104

static void
ReadFloat8s(GmmWireReader *r, double *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = gmm_wire_f8(r);
}

/*
 * Version 2's sections, after the version-1 part of m: a copy of m with
 * them.  Each payload's length is checked against what is left before it
 * is read; gmm_model_finish checks the rest.
 */
static GmmModel *
DecodeSections(GmmWireReader *r, GmmModel *m)
{
	uint32		n = gmm_wire_u32(r);
	Size		base = VARSIZE(m);
	Size		size = base;
	size_t		start = r->pos;
	GmmModel   *out;
	char	   *q;

	/* sizes first, so that the allocation is bounded by the input */
	for (uint32 i = 0; i < n; i++)
	{
		uint32		nwords;

		(void) gmm_wire_bytes(r, 4);	/* tag, flags */
		nwords = gmm_wire_u32(r);
		if ((uint64) nwords * 8 > r->len - r->pos)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid gmm binary data: section %u is truncated", i),
					 errdetail("It has %u doubles, %zu bytes are left.", nwords,
							   r->len - r->pos)));
		r->pos += (size_t) nwords * 8;
		size = add_size(size, sizeof(GmmSection) + (Size) nwords * sizeof(double));
	}
	if (r->pos != r->len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid gmm binary data: %zu bytes after the last section",
						r->len - r->pos)));
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("gmm model is too large"),
				 errdetail("It would need %zu bytes, the maximum is %zu.", size,
						   (Size) MaxAllocSize)));
	out = (GmmModel *) palloc(size);
	memcpy(out, m, base);
	SET_VARSIZE(out, size);
	pfree(m);
	r->pos = start;
	q = (char *) out + base;
	for (uint32 i = 0; i < n; i++)
	{
		GmmSection	h;
		double	   *w = (double *) (q + sizeof(GmmSection));

		h.tag = (uint16) gmm_wire_u8(r) << 8;
		h.tag |= gmm_wire_u8(r);
		h.flags = (uint16) gmm_wire_u8(r) << 8;
		h.flags |= gmm_wire_u8(r);
		h.nwords = gmm_wire_u32(r);
		memcpy(q, &h, sizeof(h));
		ReadFloat8s(r, w, h.nwords);
		q += sizeof(GmmSection) + (Size) h.nwords * sizeof(double);
	}
	return out;
}

/* Decode and validate a model from the binary format. */
static GmmModel *
GmmDecode(const char *data, size_t len)
{
	GmmWireReader r = {data, len, 0, "gmm binary data", ERRCODE_INVALID_BINARY_REPRESENTATION};
	GmmModel   *m;
	GmmParams	p;
	double	   *trace;
	uint32		magic;
	uint8		version;
	uint8		cov_type;
	uint8		init_params;
	uint8		flags;
	int32		k;
	int32		d;
	int32		n_iter;
	int32		max_iter;
	int32		n_init;
	int32		n_trace;
	uint64		expected;
	size_t		cov;

	magic = gmm_wire_u32(&r);
	if (magic != GMM_BINARY_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid gmm binary data: wrong magic number"),
				 errdetail("Found 0x%08X, expected 0x%08X.", magic,
						   GMM_BINARY_MAGIC)));
	version = gmm_wire_u8(&r);
	if (version < GMM_FORMAT_VERSION_MIN || version > GMM_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported gmm format version %d", version),
				 errdetail("This version of the extension reads format versions %d to %d.",
						   GMM_FORMAT_VERSION_MIN, GMM_FORMAT_VERSION),
				 version > GMM_FORMAT_VERSION ?
				 errhint("The model was written by a newer version of gmm; update the extension to read it.") : 0));
	cov_type = gmm_wire_u8(&r);
	init_params = gmm_wire_u8(&r);
	flags = gmm_wire_u8(&r);
	k = (int32) gmm_wire_u32(&r);
	d = (int32) gmm_wire_u32(&r);
	n_iter = (int32) gmm_wire_u32(&r);
	max_iter = (int32) gmm_wire_u32(&r);
	n_init = (int32) gmm_wire_u32(&r);
	n_trace = (int32) gmm_wire_u32(&r);

	/* the shape fixes the length: check it before allocating anything */
	if (cov_type >= GMM_COV_NTYPES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid gmm covariance type code %d", cov_type)));
	if (k < 1 || d < 1 || n_trace < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid gmm binary data: bad shape"),
				 errdetail("n_components %d, n_features %d, %d bic_trace entries.",
						   k, d, n_trace)));
	/* limits first: with them the sums below cannot overflow */
	(void) gmm_model_size((GmmCovType) cov_type, k, d, n_trace);
	cov = gmm_cov_size((GmmCovType) cov_type, k, d);
	expected = GMM_BINARY_HEADER_SIZE +
		8 * ((uint64) k + (uint64) k * d + cov) + 12 * (uint64) n_trace;
	if (version == 1 ? expected != len : expected > len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid gmm binary data: wrong length"),
				 errdetail("Found %zu bytes, expected " UINT64_FORMAT " for %d components and %d features with %s covariance and %d bic_trace entries.",
						   len, expected, k, d,
						   gmm_cov_type_name((GmmCovType) cov_type), n_trace)));

	m = gmm_model_alloc((GmmCovType) cov_type, k, d, n_trace);
	m->init_params = init_params;
	m->flags = flags;
	m->n_iter = n_iter;
	m->max_iter = max_iter;
	m->n_init = n_init;
	m->n_samples = (int64) gmm_wire_u64(&r);
	m->random_state = (int64) gmm_wire_u64(&r);
	m->sum_weights = gmm_wire_f8(&r);
	m->lower_bound = gmm_wire_f8(&r);
	m->log_likelihood = gmm_wire_f8(&r);
	m->tol = gmm_wire_f8(&r);
	m->reg_covar = gmm_wire_f8(&r);
	m->rng = gmm_wire_u8(&r);
	memcpy(m->reserved8, gmm_wire_bytes(&r, sizeof(m->reserved8)),
		   sizeof(m->reserved8));
	m->reserved = (int64) gmm_wire_u64(&r);

	gmm_model_params(m, &p);
	ReadFloat8s(&r, p.weights, k);
	ReadFloat8s(&r, p.means, (size_t) k * d);
	ReadFloat8s(&r, p.covariances, cov);
	trace = gmm_model_trace(m);
	for (int t = 0; t < n_trace; t++)
	{
		trace[2 * t] = (int32) gmm_wire_u32(&r);
		trace[2 * t + 1] = gmm_wire_f8(&r);
	}
	if (version == 2)
		m = DecodeSections(&r, m);
	Assert(r.pos == r.len);
	m->version = version;

	gmm_model_finish(m, ERRCODE_INVALID_BINARY_REPRESENTATION);
	return m;
}

/* Encode a model in the binary format, as a bytea. */
static bytea *
GmmEncode(GmmModel *m)
{
	StringInfoData buf;
	GmmParams	p;
	const double *trace = gmm_model_trace(m);
	size_t		cov;
	size_t		n;

	gmm_model_params(m, &p);
	cov = gmm_cov_size(p.cov_type, p.k, p.d);
	n = (size_t) p.k + (size_t) p.k * p.d + cov;

	pq_begintypsend(&buf);
	enlargeStringInfo(&buf, GMM_BINARY_HEADER_SIZE + 8 * n + 12 * m->n_trace);
	pq_sendint32(&buf, GMM_BINARY_MAGIC);
	pq_sendbyte(&buf, m->version);
	pq_sendbyte(&buf, m->cov_type);
	pq_sendbyte(&buf, m->init_params);
	pq_sendbyte(&buf, m->flags);
	pq_sendint32(&buf, m->n_components);
	pq_sendint32(&buf, m->n_features);
	pq_sendint32(&buf, m->n_iter);
	pq_sendint32(&buf, m->max_iter);
	pq_sendint32(&buf, m->n_init);
	pq_sendint32(&buf, m->n_trace);
	pq_sendint64(&buf, m->n_samples);
	pq_sendint64(&buf, m->random_state);
	pq_sendfloat8(&buf, m->sum_weights);
	pq_sendfloat8(&buf, m->lower_bound);
	pq_sendfloat8(&buf, m->log_likelihood);
	pq_sendfloat8(&buf, m->tol);
	pq_sendfloat8(&buf, m->reg_covar);
	pq_sendbyte(&buf, m->rng);
	for (int i = 0; i < (int) sizeof(m->reserved8); i++)
		pq_sendbyte(&buf, m->reserved8[i]);
	pq_sendint64(&buf, m->reserved);
	/* weights, means, covariances are contiguous in the layout */
	for (size_t i = 0; i < n; i++)
		pq_sendfloat8(&buf, p.weights[i]);
	for (int t = 0; t < m->n_trace; t++)
	{
		pq_sendint32(&buf, (int32) trace[2 * t]);
		pq_sendfloat8(&buf, trace[2 * t + 1]);
	}
	if (m->version >= 2)
	{
		const char *start = gmm_model_sections_start(m);
		const char *end = (const char *) m + VARSIZE(m);
		const char *p;
		uint32		n = 0;

		for (p = start; p < end; p += sizeof(GmmSection) + ((const GmmSection *) p)->nwords * sizeof(double))
			n++;
		pq_sendint32(&buf, n);
		for (p = start; p < end; p += sizeof(GmmSection) + ((const GmmSection *) p)->nwords * sizeof(double))
		{
			const GmmSection *h = (const GmmSection *) p;
			const double *w = (const double *) (p + sizeof(GmmSection));

			pq_sendint16(&buf, h->tag);
			pq_sendint16(&buf, h->flags);
			pq_sendint32(&buf, h->nwords);
			for (uint32 i = 0; i < h->nwords; i++)
				pq_sendfloat8(&buf, w[i]);
		}
	}
	return pq_endtypsend(&buf);
}

PG_FUNCTION_INFO_V1(gmm_recv);
Datum
gmm_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	GmmModel   *m;

	m = GmmDecode(buf->data + buf->cursor, buf->len - buf->cursor);
	buf->cursor = buf->len;
	PG_RETURN_GMM_P(m);
}

PG_FUNCTION_INFO_V1(gmm_send);
Datum
gmm_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(GmmEncode(PG_GETARG_GMM_P(0)));
}

/* gmm::bytea: the binary send format */
PG_FUNCTION_INFO_V1(gmm_to_bytea);
Datum
gmm_to_bytea(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(GmmEncode(PG_GETARG_GMM_P(0)));
}

/* bytea::gmm: the binary send format, validated as gmm_recv does */
PG_FUNCTION_INFO_V1(gmm_from_bytea);
Datum
gmm_from_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_GMM_P(GmmDecode(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}
