/*
 * test/fuzz/fuzz_codec.c
 *	  libFuzzer harness of the gmm binary format: the bytes of a bytea::gmm
 *	  cast (and of binary COPY / gmm_recv) through the extension's own
 *	  gmm_binary.c, gmm_model_finish (gmm_model.c) and the numerical core,
 *	  linked unchanged against a stand-in for the backend (pg_shim.c).
 *
 * Every input must end in one of two ways, as in a server:
 *	- an ERROR with a SQLSTATE of class 22 (data exception) or 54 (program
 *	  limit); any other SQLSTATE, XX000 (elog) in particular, aborts;
 *	- a model, which must then survive what the server does with it:
 *	  gmm_send re-encodes it without error, gmm_recv accepts that encoding
 *	  and rebuilds the very same bytes (the round trip is exact, derived
 *	  fields included), the re-encoding is a fixed point, and the model
 *	  scores its own first mean to a finite log-likelihood.
 * AddressSanitizer and UndefinedBehaviorSanitizer watch all of it.
 *
 * The text form is not fuzzed here: its parser is PostgreSQL's jsonb_in,
 * which cannot be linked outside a server; test/integration/75_fuzz_sql.sh
 * throws random and mutated JSON documents at the real server instead.
 *
 *	make fuzz							build, replay regressions + seeds, fuzz
 *	test/fuzz/fuzz_codec FILE...		replay inputs (e.g. a crash file)
 */
#include "postgres.h"

#include <math.h>
#include <stdint.h>

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "gmm.h"
#include "pg_shim.h"

/* gmm_binary.c's SQL-callable functions (no header declares them) */
extern Datum gmm_from_bytea(PG_FUNCTION_ARGS);
extern Datum gmm_to_bytea(PG_FUNCTION_ARGS);
extern Datum gmm_recv(PG_FUNCTION_ARGS);
extern Datum gmm_send(PG_FUNCTION_ARGS);

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fn(arg) as the function manager would call it; a NULL result is a bug */
static Datum
Call1(PGFunction fn, Datum arg)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg;
	fcinfo->args[0].isnull = false;
	result = fn(fcinfo);
	if (fcinfo->isnull)
		shim_die("a gmm function returned NULL for a non-NULL argument");
	return result;
}

typedef struct Step
{
	const uint8_t *data;
	size_t		size;
	GmmModel   *model;			/* out: decoded model */
	bytea	   *bytes;			/* out: encoded model */
} Step;

/* bytea::gmm over the input */
static void
StepFromBytea(void *arg)
{
	Step	   *s = arg;
	bytea	   *b = palloc(VARHDRSZ + s->size);

	SET_VARSIZE(b, VARHDRSZ + s->size);
	if (s->size > 0)
		memcpy(VARDATA(b), s->data, s->size);
	s->model = (GmmModel *) DatumGetPointer(Call1(gmm_from_bytea,
												  PointerGetDatum(b)));
}

/* gmm_send (binary COPY out) of s->model */
static void
StepSend(void *arg)
{
	Step	   *s = arg;

	s->bytes = DatumGetByteaP(Call1(gmm_send, PointerGetDatum(s->model)));
}

/* gmm_recv (binary COPY in) of s->bytes */
static void
StepRecv(void *arg)
{
	Step	   *s = arg;
	StringInfoData buf;

	/* what COPY hands gmm_recv: the field's bytes, NUL-terminated */
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA(s->bytes), VARSIZE(s->bytes) - VARHDRSZ);
	s->model = (GmmModel *) DatumGetPointer(Call1(gmm_recv,
												  PointerGetDatum(&buf)));
	if (buf.cursor != buf.len)
		shim_die("gmm_recv left %d of %d bytes unread", buf.len - buf.cursor,
				 buf.len);
}

/* run a step that must not raise an error */
static void
MustSucceed(void (*fn) (void *), Step *s, const char *what)
{
	ShimError	err;

	if (shim_catch(fn, s, &err))
		shim_die("%s of a valid model failed: %s %s (%s)", what,
				 err.sqlstate_text, err.message, err.detail);
}

/* the log-likelihood of the model's first mean (cannot be -inf or NaN) */
static void
CheckScores(GmmModel *m)
{
	GmmParams	p;
	double	   *logw;
	double	   *logprob;
	double	   *work;
	double		lse;

	gmm_model_params(m, &p);
	logw = palloc(sizeof(double) * p.k);
	logprob = palloc(sizeof(double) * p.k);
	work = palloc(sizeof(double) * 2 * p.d);	/* gmm_row_log_prob's */
	for (int j = 0; j < p.k; j++)
		logw[j] = log(p.weights[j]);
	lse = gmm_row_log_prob(&p, logw, p.means, logprob, work);
	if (!isfinite(lse))
		shim_die("a valid model scores its own first mean as %g", lse);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Step		s = {data, size, NULL, NULL};
	ShimError	err;
	GmmModel   *first;
	bytea	   *first_bytes;

	if (shim_catch(StepFromBytea, &s, &err))
	{
		int			category = ERRCODE_TO_CATEGORY(err.sqlstate);

		if (category != ERRCODE_TO_CATEGORY(ERRCODE_DATA_EXCEPTION) &&
			category != ERRCODE_TO_CATEGORY(ERRCODE_PROGRAM_LIMIT_EXCEEDED))
			shim_die("bytea::gmm raised SQLSTATE %s, not a class 22 or 54 error: %s (%s)",
					 err.sqlstate_text, err.message, err.detail);
		shim_reset_memory();
		return 0;
	}

	/* a model: the round trip through send and recv must be exact */
	first = s.model;
	MustSucceed(StepSend, &s, "gmm_send");
	first_bytes = s.bytes;
	MustSucceed(StepRecv, &s, "gmm_recv");
	if (VARSIZE(s.model) != VARSIZE(first) ||
		memcmp(s.model, first, VARSIZE(first)) != 0)
		shim_die("send/recv round trip changed the model");
	MustSucceed(StepSend, &s, "gmm_send");
	if (VARSIZE(s.bytes) != VARSIZE(first_bytes) ||
		memcmp(s.bytes, first_bytes, VARSIZE(first_bytes)) != 0)
		shim_die("re-encoding a decoded model changed its bytes");
	CheckScores(first);

	shim_reset_memory();
	return 0;
}
