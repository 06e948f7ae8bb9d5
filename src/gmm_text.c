/*
 * gmm_text.c
 *	  Text I/O of the gmm type, and the casts to and from jsonb, which share
 *	  the code.
 *
 * The text form is one JSON object with scikit-learn's names, in this order
 * and with this whitespace (the same as jsonb's output):
 *
 *	{"format_version": 1, "covariance_type": "full", "n_components": 2,
 *	 "n_features": 2, "weights": [...], "means": [[...], ...],
 *	 "covariances": <full K x D x D, tied D x D, diag K x D, spherical K>,
 *	 "converged": true, "n_iter": 3, "lower_bound": 4.08,
 *	 "log_likelihood": 4.1, "n_samples": 6, "sum_weights": 6,
 *	 "options": {"max_iter": 100, "tol": 0.001, "reg_covar": 1e-06,
 *				 "random_state": 0, "init_params": "kmeans", "n_init": 1},
 *	 "bic_trace": [{"n_components": 1, "bic": ...}, ...]}
 *
 * on one line; "bic_trace" only when the model has one.  Format version 2
 * adds one key per section after "bic_trace", in tag order ("n_missing",
 * "calibration", "bayesian"; gmm_sections.c), and "rng" in "options" when
 * it is not the default.  Floats are in the
 * shortest form that reads back to the same double, NaN lower_bound and
 * log_likelihood as null, so text -> gmm reproduces the same bytes.
 *
 * Input is parsed by jsonb_in (malformed JSON gets PostgreSQL's own error),
 * then walked with jsonb iterators.  Required keys: weights, means,
 * covariances; every other key is optional (defaults of gmm_model_alloc;
 * covariance_type "full"; sum_weights defaults to n_samples), and an unknown
 * key is an error, so that a typo cannot pass silently.  Numbers are
 * converted exactly (the numeric's decimal text through strtod).
 */
#include "postgres.h"

#include <errno.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "gmm.h"
#include "gmm_compat.h"

/* top-level keys, in output order */
enum
{
	K_FORMAT_VERSION,
	K_COVARIANCE_TYPE,
	K_N_COMPONENTS,
	K_N_FEATURES,
	K_WEIGHTS,
	K_MEANS,
	K_COVARIANCES,
	K_CONVERGED,
	K_N_ITER,
	K_LOWER_BOUND,
	K_LOG_LIKELIHOOD,
	K_N_SAMPLES,
	K_SUM_WEIGHTS,
	K_OPTIONS,
	K_BIC_TRACE,
	K_NKEYS
};

static const char *const model_keys[K_NKEYS] = {
	"format_version", "covariance_type", "n_components", "n_features",
	"weights", "means", "covariances", "converged", "n_iter", "lower_bound",
	"log_likelihood", "n_samples", "sum_weights", "options", "bic_trace"
};

enum
{
	O_MAX_ITER,
	O_TOL,
	O_REG_COVAR,
	O_RANDOM_STATE,
	O_INIT_PARAMS,
	O_N_INIT,
	O_RNG,
	O_NKEYS
};

static const char *const option_keys[O_NKEYS] = {
	"max_iter", "tol", "reg_covar", "random_state", "init_params", "n_init",
	"rng"
};

/* the JSON forms of the section kinds */
static void MissingToJson(StringInfo buf, const GmmModel *m,
						  const double *words, uint32 nwords);
static double *MissingFromJson(const JsonbValue *v, const GmmModel *m,
							   uint32 *nwords);

static const GmmSectionJson section_json[] = {
	{GMM_SECTION_MISSING, MissingToJson, MissingFromJson},
	{GMM_SECTION_CALIBRATION, gmm_calibration_to_json, gmm_calibration_from_json},
	{GMM_SECTION_BAYESIAN, gmm_bayes_to_json, gmm_bayes_from_json},
};

const GmmSectionJson *
gmm_section_json(int tag)
{
	for (int i = 0; i < lengthof(section_json); i++)
		if ((int) section_json[i].tag == tag)
			return &section_json[i];
	return NULL;
}

static const char *const trace_keys[2] = {"n_components", "bic"};

/*
 * Where a JSON value sits, for messages: "field"[i][j] or "field"."member"
 * or "field"[i]."member".
 */
typedef struct ValuePath
{
	const char *field;
	int			nidx;
	int			idx[3];
	const char *member;
} ValuePath;

static char *
PathText(const ValuePath *path)
{
	char	   *s = gmm_format_path(path->field, path->nidx, path->idx);

	if (path->member != NULL)
		s = psprintf("%s.\"%s\"", s, path->member);
	return s;
}

/* ---------------------------------------------------------------- output */

static void
AppendDouble(StringInfo buf, double x)
{
	char		s[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (isnan(x))
		appendStringInfoString(buf, "null");
	else
		appendBinaryStringInfo(buf, s, double_to_shortest_decimal_bufn(x, s));
}

/* [x0, x1, ...] */
static void
AppendVector(StringInfo buf, const double *x, int n)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		AppendDouble(buf, x[i]);
	}
	appendStringInfoChar(buf, ']');
}

/* [[...], [...]]: rows x cols, row-major */
static void
AppendMatrix(StringInfo buf, const double *x, int rows, int cols)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < rows; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		AppendVector(buf, x + (size_t) i * cols, cols);
	}
	appendStringInfoChar(buf, ']');
}

void
gmm_append_options_json(StringInfo buf, const GmmModel *m)
{
	appendStringInfo(buf, "{\"max_iter\": %d, \"tol\": ", m->max_iter);
	AppendDouble(buf, m->tol);
	appendStringInfoString(buf, ", \"reg_covar\": ");
	AppendDouble(buf, m->reg_covar);
	appendStringInfo(buf, ", \"random_state\": " INT64_FORMAT
					 ", \"init_params\": \"%s\", \"n_init\": %d",
					 m->random_state,
					 gmm_init_name((GmmInit) m->init_params), m->n_init);
	if (m->rng != GMM_RNG_XOSHIRO256)
		appendStringInfo(buf, ", \"rng\": \"%s\"", gmm_rng_name(m->rng));
	appendStringInfoChar(buf, '}');
}

/* The JSON text of a model. */
static char *
GmmToJsonText(GmmModel *m)
{
	StringInfoData buf;
	GmmParams	p;
	int			k = m->n_components;
	int			d = m->n_features;

	gmm_model_params(m, &p);
	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"format_version\": %d, \"covariance_type\": \"%s\", "
					 "\"n_components\": %d, \"n_features\": %d, \"weights\": ",
					 m->version, gmm_cov_type_name(p.cov_type), k, d);
	AppendVector(&buf, p.weights, k);
	appendStringInfoString(&buf, ", \"means\": ");
	AppendMatrix(&buf, p.means, k, d);
	appendStringInfoString(&buf, ", \"covariances\": ");
	switch (p.cov_type)
	{
		case GMM_COV_FULL:
			appendStringInfoChar(&buf, '[');
			for (int j = 0; j < k; j++)
			{
				if (j > 0)
					appendStringInfoString(&buf, ", ");
				AppendMatrix(&buf, p.covariances + (size_t) j * d * d, d, d);
			}
			appendStringInfoChar(&buf, ']');
			break;
		case GMM_COV_TIED:
			AppendMatrix(&buf, p.covariances, d, d);
			break;
		case GMM_COV_DIAG:
			AppendMatrix(&buf, p.covariances, k, d);
			break;
		case GMM_COV_SPHERICAL:
			AppendVector(&buf, p.covariances, k);
			break;
	}
	appendStringInfo(&buf, ", \"converged\": %s, \"n_iter\": %d, \"lower_bound\": ",
					 (m->flags & GMM_FLAG_CONVERGED) ? "true" : "false",
					 m->n_iter);
	AppendDouble(&buf, m->lower_bound);
	appendStringInfoString(&buf, ", \"log_likelihood\": ");
	AppendDouble(&buf, m->log_likelihood);
	appendStringInfo(&buf, ", \"n_samples\": " INT64_FORMAT ", \"sum_weights\": ",
					 m->n_samples);
	AppendDouble(&buf, m->sum_weights);
	appendStringInfoString(&buf, ", \"options\": ");
	gmm_append_options_json(&buf, m);
	if (m->n_trace > 0)
	{
		const double *trace = gmm_model_trace(m);

		appendStringInfoString(&buf, ", \"bic_trace\": [");
		for (int t = 0; t < m->n_trace; t++)
		{
			appendStringInfo(&buf, "%s{\"n_components\": %d, \"bic\": ",
							 t > 0 ? ", " : "", (int) trace[2 * t]);
			AppendDouble(&buf, trace[2 * t + 1]);
			appendStringInfoChar(&buf, '}');
		}
		appendStringInfoChar(&buf, ']');
	}
	for (int tag = 1; tag <= GMM_SECTION_MAX_TAG; tag++)
	{
		uint32		n;
		const double *w = gmm_model_section(m, (GmmSectionTag) tag, &n);

		if (w == NULL)
			continue;
		appendStringInfo(&buf, ", \"%s\": ", gmm_section_kind(tag)->json_key);
		gmm_section_json(tag)->to_json(&buf, m, w, n);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* ----------------------------------------------------------------- input */

/* "a string", "an array", ... for messages */
const char *
gmm_jsonb_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "a JSON container";
	}
}

/* Raise "<path> must be <expected>, not <type of v>". */
gmm_noreturn static void
WrongType(const JsonbValue *v, const ValuePath *path, const char *expected)
{
	bool		nonfinite = false;

	if (v->type == jbvString)
	{
		char	   *s = pnstrdup(v->val.string.val, v->val.string.len);
		char	   *c = s;

		if (*c == '-' || *c == '+')
			c++;
		nonfinite = pg_strcasecmp(c, "nan") == 0 ||
			pg_strcasecmp(c, "inf") == 0 ||
			pg_strcasecmp(c, "infinity") == 0;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("%s must be %s, not %s", PathText(path), expected,
					gmm_jsonb_type_name(v)),
			 nonfinite ?
			 errhint("NaN and infinite values are not allowed in a gmm.") : 0));
}

/* A JSON number as a double, exactly (correctly rounded decimal). */
static double
JsonbToDouble(const JsonbValue *v, const ValuePath *path)
{
	char	   *s;
	char	   *end;
	double		x;

	if (v->type != jbvNumeric)
		WrongType(v, path, "a number");
	s = DatumGetCString(DirectFunctionCall1(numeric_out,
											NumericGetDatum(v->val.numeric)));
	errno = 0;
	x = strtod(s, &end);
	if (*end != '\0' || isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s is not a finite number", PathText(path))));
	/* as float8in: overflow, and underflow to zero, are errors */
	if (isinf(x) || (errno == ERANGE && x == 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range for type double precision",
						PathText(path))));
	pfree(s);
	return x;
}

/* A JSON number that must be an integer in [min, max]. */
static int64
JsonbToInt64(const JsonbValue *v, const ValuePath *path, int64 min, int64 max)
{
	char	   *s;
	const char *c;
	bool		neg = false;
	bool		overflow = false;
	uint64		acc = 0;
	int64		x = 0;

	if (v->type != jbvNumeric)
		WrongType(v, path, "an integer");
	/* numeric_out never uses an exponent: [-]digits[.digits] */
	s = DatumGetCString(DirectFunctionCall1(numeric_out,
											NumericGetDatum(v->val.numeric)));
	c = s;
	if (*c == '-')
	{
		neg = true;
		c++;
	}
	for (; *c >= '0' && *c <= '9'; c++)
	{
		if (acc > (PG_UINT64_MAX - 9) / 10)
			overflow = true;
		else
			acc = acc * 10 + (*c - '0');
	}
	if (*c == '.')
		for (c++; *c == '0'; c++)
			;
	if (*c != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%s must be an integer", PathText(path)),
				 errdetail("The value is %s.", s)));
	if (!overflow)
	{
		if (neg && acc <= (uint64) PG_INT64_MAX + 1)
			x = (acc == (uint64) PG_INT64_MAX + 1) ? PG_INT64_MIN : -(int64) acc;
		else if (!neg && acc <= (uint64) PG_INT64_MAX)
			x = (int64) acc;
		else
			overflow = true;
	}
	if (overflow || x < min || x > max)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", PathText(path)),
				 errdetail("It must be an integer between " INT64_FORMAT
						   " and " INT64_FORMAT ".", min, max)));
	pfree(s);
	return x;
}

static int32
JsonbToInt32(const JsonbValue *v, const ValuePath *path)
{
	return (int32) JsonbToInt64(v, path, PG_INT32_MIN, PG_INT32_MAX);
}

static char *
JsonbToString(const JsonbValue *v, const ValuePath *path)
{
	if (v->type != jbvString)
		WrongType(v, path, "a string");
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The container of a JSON array or object value, or NULL if v is neither. */
static JsonbContainer *
JsonbContainerOf(const JsonbValue *v, bool array)
{
	if (v->type != jbvBinary)
		return NULL;
	if (array ? !JsonContainerIsArray(v->val.binary.data) :
		!JsonContainerIsObject(v->val.binary.data))
		return NULL;
	return v->val.binary.data;
}

/*
 * Collect the members of a JSON object: vals[i] and present[i] for keys[i].
 * A key not in keys is an error naming it (where: "gmm value", "\"options\"").
 */
static void
ReadObject(JsonbContainer *c, const char *where, const char *const *keys,
		   int nkeys, JsonbValue *vals, bool *present)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			cur = -1;

	memset(present, 0, sizeof(bool) * nkeys);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			for (cur = 0; cur < nkeys; cur++)
				if (strlen(keys[cur]) == v.val.string.len &&
					memcmp(keys[cur], v.val.string.val, v.val.string.len) == 0)
					break;
			if (cur == nkeys)
			{
				StringInfoData valid;

				initStringInfo(&valid);
				for (int i = 0; i < nkeys; i++)
					appendStringInfo(&valid, "%s%s", i > 0 ? ", " : "", keys[i]);
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("unknown key \"%s\" in %s",
								pnstrdup(v.val.string.val, v.val.string.len),
								where),
						 errhint("Valid keys are: %s.", valid.data)));
			}
		}
		else if (tok == WJB_VALUE)
		{
			vals[cur] = v;
			present[cur] = true;
		}
	}
}

/*
 * Read a nested JSON array of numbers of shape dims[level..ndims) into *out
 * (row-major, advancing *out).  dimnames[i] says where dims[i] comes from.
 */
static void
ReadNumberArray(const JsonbValue *v, ValuePath *path, int level, int ndims,
				const int *dims, const char *const *dimnames, double **out)
{
	JsonbContainer *c = JsonbContainerOf(v, true);
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	elem;
	int			i = 0;

	path->nidx = level;
	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("wrong shape for \"%s\"", path->field),
				 errdetail("%s is %s, expected an array of length %d (%s).",
						   PathText(path), gmm_jsonb_type_name(v), dims[level],
						   dimnames[level])));
	if ((int) JsonContainerSize(c) != dims[level])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("wrong shape for \"%s\"", path->field),
				 errdetail("%s has length %d, expected %d (%s).",
						   PathText(path), (int) JsonContainerSize(c),
						   dims[level], dimnames[level])));

	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		path->idx[level] = i++;
		path->nidx = level + 1;
		if (level + 1 < ndims)
			ReadNumberArray(&elem, path, level + 1, ndims, dims, dimnames, out);
		else if (elem.type == jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("wrong shape for \"%s\"", path->field),
					 errdetail("%s is %s, expected a number.",
							   PathText(path), gmm_jsonb_type_name(&elem))));
		else
			*(*out)++ = JsonbToDouble(&elem, path);
	}
	path->nidx = level;
}

/* Read one whole array field of the given shape into out. */
static void
ReadField(const JsonbValue *v, const char *field, int ndims, const int *dims,
		  const char *const *dimnames, double *out)
{
	ValuePath	path = {field, 0, {0, 0, 0}, NULL};

	ReadNumberArray(v, &path, 0, ndims, dims, dimnames, &out);
}

/* Length of a required top-level array, for inferring K and D. */
static int
ArrayLength(const JsonbValue *v, const char *field, const char *expected)
{
	JsonbContainer *c = JsonbContainerOf(v, true);

	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("wrong shape for \"%s\"", field),
				 errdetail("\"%s\" is %s, expected %s.", field,
						   gmm_jsonb_type_name(v), expected)));
	return (int) JsonContainerSize(c);
}

/* n_features from "means" when not given: the length of its first row. */
static int
InferFeatures(const JsonbValue *means)
{
	const char *expected = "an array of arrays of numbers (n_components x n_features)";
	JsonbValue *row;

	if (ArrayLength(means, "means", expected) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("wrong shape for \"means\""),
				 errdetail("\"means\" is empty, expected %s.", expected)));
	row = getIthJsonbValueFromContainer(means->val.binary.data, 0);
	if (row == NULL || JsonbContainerOf(row, true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("wrong shape for \"means\""),
				 errdetail("\"means\"[0] is %s, expected an array of numbers (n_features).",
						   row ? gmm_jsonb_type_name(row) : "missing")));
	return (int) JsonContainerSize(row->val.binary.data);
}

/* The "options" object into the model's option fields. */
static void
ReadOptions(const JsonbValue *v, GmmModel *m)
{
	JsonbValue	vals[O_NKEYS];
	bool		present[O_NKEYS];
	ValuePath	path = {"options", 0, {0, 0, 0}, NULL};
	JsonbContainer *c = JsonbContainerOf(v, false);

	if (c == NULL)
		WrongType(v, &path, "an object");
	ReadObject(c, "\"options\"", option_keys, O_NKEYS, vals, present);

#define OPTION_PATH(i) (path.member = option_keys[i], &path)
	if (present[O_MAX_ITER])
		m->max_iter = JsonbToInt32(&vals[O_MAX_ITER], OPTION_PATH(O_MAX_ITER));
	if (present[O_TOL])
		m->tol = JsonbToDouble(&vals[O_TOL], OPTION_PATH(O_TOL));
	if (present[O_REG_COVAR])
		m->reg_covar = JsonbToDouble(&vals[O_REG_COVAR], OPTION_PATH(O_REG_COVAR));
	if (present[O_RANDOM_STATE])
		m->random_state = JsonbToInt64(&vals[O_RANDOM_STATE],
									   OPTION_PATH(O_RANDOM_STATE),
									   PG_INT64_MIN, PG_INT64_MAX);
	if (present[O_N_INIT])
		m->n_init = JsonbToInt32(&vals[O_N_INIT], OPTION_PATH(O_N_INIT));
	if (present[O_RNG])
	{
		char	   *name = JsonbToString(&vals[O_RNG], OPTION_PATH(O_RNG));
		int			rng;

		if (!gmm_rng_from_name(name, &rng))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid rng \"%s\"", name),
					 errhint("Valid values are xoshiro256 and sklearn.")));
		m->rng = (uint8) rng;
	}
	if (present[O_INIT_PARAMS])
	{
		char	   *name = JsonbToString(&vals[O_INIT_PARAMS],
										  OPTION_PATH(O_INIT_PARAMS));
		GmmInit		init;

		if (!gmm_init_from_name(name, &init))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid init_params \"%s\"", name),
					 errhint("Valid values are kmeans, k-means++, random and random_from_data.")));
		m->init_params = (uint8) init;
	}
#undef OPTION_PATH
}

/* The "bic_trace" array of {"n_components": k, "bic": x} objects. */
static void
ReadTrace(const JsonbValue *v, GmmModel *m)
{
	double	   *trace = gmm_model_trace(m);
	JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
	JsonbIteratorToken tok;
	JsonbValue	elem;
	ValuePath	path = {"bic_trace", 1, {0, 0, 0}, NULL};
	int			t = 0;

	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		JsonbValue	vals[2];
		bool		present[2];
		JsonbContainer *c;

		if (tok != WJB_ELEM)
			continue;
		path.idx[0] = t;
		path.member = NULL;
		c = JsonbContainerOf(&elem, false);
		if (c == NULL)
			WrongType(&elem, &path, "an object");
		ReadObject(c, PathText(&path), trace_keys, 2, vals, present);
		for (int i = 0; i < 2; i++)
			if (!present[i])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("%s is missing key \"%s\"", PathText(&path),
								trace_keys[i])));
		path.member = trace_keys[0];
		trace[2 * t] = JsonbToInt32(&vals[0], &path);
		path.member = trace_keys[1];
		trace[2 * t + 1] = JsonbToDouble(&vals[1], &path);
		t++;
	}
}

/* Build and validate a model from a JSON document (text input and jsonb cast). */
static GmmModel *
GmmFromJsonb(Jsonb *jb)
{
	/* the keys of version 1, then one per section kind */
	const char *keys[K_NKEYS + GMM_SECTION_MAX_TAG];
	int			key_tag[K_NKEYS + GMM_SECTION_MAX_TAG];
	int			nkeys = K_NKEYS;
	JsonbValue	vals[K_NKEYS + GMM_SECTION_MAX_TAG];
	bool		present[K_NKEYS + GMM_SECTION_MAX_TAG];
	ValuePath	path = {NULL, 0, {0, 0, 0}, NULL};
	GmmCovType	cov_type = GMM_COV_FULL;
	GmmModel   *m;
	GmmParams	p;
	int			k;
	int			d;
	int			n_trace = 0;
	int			dims[3];
	static const char *const dimnames[3] = {
		"n_components", "n_features", "n_features"
	};

	/*
	 * covariances have the shape dims[first .. first + ndims): full K x D x
	 * D, tied D x D, diag K x D, spherical K
	 */
	static const int cov_first[GMM_COV_NTYPES] = {0, 1, 0, 0};
	static const int cov_ndims[GMM_COV_NTYPES] = {3, 2, 2, 1};

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("gmm value must be a JSON object"),
				 errhint("Write a model as {\"weights\": [...], \"means\": [[...], ...], \"covariances\": [...]}.")));
	memcpy(keys, model_keys, sizeof(model_keys));
	for (int tag = 1; tag <= GMM_SECTION_MAX_TAG; tag++)
		if (gmm_section_kind(tag) != NULL)
		{
			key_tag[nkeys] = tag;
			keys[nkeys++] = gmm_section_kind(tag)->json_key;
		}
	ReadObject(&jb->root, "gmm value", keys, nkeys, vals, present);

#define KEY_PATH(i) (path.field = model_keys[i], &path)
	for (int i = K_WEIGHTS; i <= K_COVARIANCES; i++)
		if (!present[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("gmm value is missing required key \"%s\"",
							model_keys[i])));

	/* any version this extension reads; the model is stored in the lowest that holds it */
	if (present[K_FORMAT_VERSION])
	{
		int			version = JsonbToInt32(&vals[K_FORMAT_VERSION],
										   KEY_PATH(K_FORMAT_VERSION));

		if (version < GMM_FORMAT_VERSION_MIN || version > GMM_FORMAT_VERSION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("unsupported gmm format version %d", version),
					 errdetail("This version of the extension reads format versions %d to %d.",
							   GMM_FORMAT_VERSION_MIN, GMM_FORMAT_VERSION),
					 version > GMM_FORMAT_VERSION ?
					 errhint("The model was written by a newer version of gmm; update the extension to read it.") : 0));
	}
	if (present[K_COVARIANCE_TYPE])
	{
		char	   *name = JsonbToString(&vals[K_COVARIANCE_TYPE],
										  KEY_PATH(K_COVARIANCE_TYPE));

		if (!gmm_cov_type_from_name(name, &cov_type))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid covariance_type \"%s\"", name),
					 errhint("Valid values are full, tied, diag and spherical.")));
	}

	/* shape: given, or inferred from weights and means */
	if (present[K_N_COMPONENTS])
		k = JsonbToInt32(&vals[K_N_COMPONENTS], KEY_PATH(K_N_COMPONENTS));
	else if ((k = ArrayLength(&vals[K_WEIGHTS], "weights", "an array of numbers")) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("\"weights\" must not be empty")));
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("\"n_components\" must be at least 1"),
				 errdetail("The value is %d.", k)));
	if (present[K_N_FEATURES])
		d = JsonbToInt32(&vals[K_N_FEATURES], KEY_PATH(K_N_FEATURES));
	else
		d = InferFeatures(&vals[K_MEANS]);
	if (d < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("\"n_features\" must be at least 1"),
				 errdetail("The value is %d.", d)));
	if (present[K_BIC_TRACE])
		n_trace = ArrayLength(&vals[K_BIC_TRACE], "bic_trace",
							  "an array of objects");

	m = gmm_model_alloc(cov_type, k, d, n_trace);
	gmm_model_params(m, &p);

	dims[0] = k;
	dims[1] = d;
	dims[2] = d;
	ReadField(&vals[K_WEIGHTS], "weights", 1, dims, dimnames, p.weights);
	ReadField(&vals[K_MEANS], "means", 2, dims, dimnames, p.means);
	ReadField(&vals[K_COVARIANCES], "covariances", cov_ndims[cov_type],
			  dims + cov_first[cov_type], dimnames + cov_first[cov_type],
			  p.covariances);

	if (present[K_CONVERGED])
	{
		if (vals[K_CONVERGED].type != jbvBool)
			WrongType(&vals[K_CONVERGED], KEY_PATH(K_CONVERGED), "a boolean");
		if (vals[K_CONVERGED].val.boolean)
			m->flags |= GMM_FLAG_CONVERGED;
	}
	if (present[K_N_ITER])
		m->n_iter = JsonbToInt32(&vals[K_N_ITER], KEY_PATH(K_N_ITER));
	if (present[K_LOWER_BOUND] && vals[K_LOWER_BOUND].type != jbvNull)
		m->lower_bound = JsonbToDouble(&vals[K_LOWER_BOUND], KEY_PATH(K_LOWER_BOUND));
	if (present[K_LOG_LIKELIHOOD] && vals[K_LOG_LIKELIHOOD].type != jbvNull)
		m->log_likelihood = JsonbToDouble(&vals[K_LOG_LIKELIHOOD],
										  KEY_PATH(K_LOG_LIKELIHOOD));
	if (present[K_N_SAMPLES])
		m->n_samples = JsonbToInt64(&vals[K_N_SAMPLES], KEY_PATH(K_N_SAMPLES),
									PG_INT64_MIN, PG_INT64_MAX);
	/* unweighted fits have sum_weights = n_samples */
	m->sum_weights = (double) m->n_samples;
	if (present[K_SUM_WEIGHTS])
		m->sum_weights = JsonbToDouble(&vals[K_SUM_WEIGHTS], KEY_PATH(K_SUM_WEIGHTS));
	if (present[K_OPTIONS])
		ReadOptions(&vals[K_OPTIONS], m);
	if (n_trace > 0)
		ReadTrace(&vals[K_BIC_TRACE], m);
	/* sections, in tag order, on the version-1 part read so far */
	for (int i = K_NKEYS; i < nkeys; i++)
		if (present[i])
		{
			uint32		n;
			double	   *w = gmm_section_json(key_tag[i])->from_json(&vals[i], m, &n);

			if (w != NULL)
				m = gmm_model_add_section_unchecked(m, (GmmSectionTag) key_tag[i], w, n);
		}
#undef KEY_PATH

	/* "format_version" is informational: the content decides (the lowest that holds it) */
	m->version = GMM_FORMAT_VERSION;
	gmm_model_finish(m, ERRCODE_INVALID_TEXT_REPRESENTATION);
	return m;
}

/* ------------------------------------------- JSON pieces for the sections */

void
gmm_json_append_double(StringInfo buf, double x)
{
	AppendDouble(buf, x);
}

void
gmm_json_append_vector(StringInfo buf, const double *x, int n)
{
	AppendVector(buf, x, n);
}

void
gmm_json_append_matrix(StringInfo buf, const double *x, int rows, int cols)
{
	AppendMatrix(buf, x, rows, cols);
}

void
gmm_json_object(const JsonbValue *v, const char *where,
				const char *const *keys, int nkeys, JsonbValue *vals,
				bool *present)
{
	JsonbContainer *c = JsonbContainerOf(v, false);
	ValuePath	path = {where, 0, {0, 0, 0}, NULL};

	if (c == NULL)
		WrongType(v, &path, "an object");
	ReadObject(c, psprintf("\"%s\"", where), keys, nkeys, vals, present);
}

double
gmm_json_number(const JsonbValue *v, const char *field, const char *member)
{
	ValuePath	path = {field, 0, {0, 0, 0}, member};

	return JsonbToDouble(v, &path);
}

int64
gmm_json_integer(const JsonbValue *v, const char *field, const char *member,
				 int64 min, int64 max)
{
	ValuePath	path = {field, 0, {0, 0, 0}, member};

	return JsonbToInt64(v, &path, min, max);
}

char *
gmm_json_string(const JsonbValue *v, const char *field, const char *member)
{
	ValuePath	path = {field, 0, {0, 0, 0}, member};

	return JsonbToString(v, &path);
}

int
gmm_json_array_length(const JsonbValue *v, const char *field)
{
	return ArrayLength(v, field, "an array");
}

void
gmm_json_number_array(const JsonbValue *v, const char *field, int ndims,
					  const int *dims, const char *const *dimnames, double *out)
{
	Assert(ndims >= 1 && ndims <= 3);
	ReadField(v, field, ndims, dims, dimnames, out);
}

/* MISSING: "n_missing": the number of values missing in the training rows */
static void
MissingToJson(StringInfo buf, const GmmModel *m, const double *words,
			  uint32 nwords)
{
	appendStringInfo(buf, INT64_FORMAT, (int64) words[0]);
}

static double *
MissingFromJson(const JsonbValue *v, const GmmModel *m, uint32 *nwords)
{
	int64		n = gmm_json_integer(v, "n_missing", NULL, 0,
									 INT64CONST(9007199254740992));
	double	   *w;

	/* 0: nothing was missing, which is a model without the section */
	*nwords = 0;
	if (n == 0)
		return NULL;
	w = palloc(sizeof(double));
	w[0] = (double) n;
	*nwords = 1;
	return w;
}

PG_FUNCTION_INFO_V1(gmm_in);
Datum
gmm_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														CStringGetDatum(str)));

	PG_RETURN_GMM_P(GmmFromJsonb(jb));
}

PG_FUNCTION_INFO_V1(gmm_out);
Datum
gmm_out(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);

	PG_RETURN_CSTRING(GmmToJsonText(m));
}

/* gmm::jsonb: the text form, as jsonb (numbers keep every digit) */
PG_FUNCTION_INFO_V1(gmm_to_jsonb);
Datum
gmm_to_jsonb(PG_FUNCTION_ARGS)
{
	GmmModel   *m = PG_GETARG_GMM_P(0);

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(GmmToJsonText(m))));
}

/* jsonb::gmm: the same rules as text input */
PG_FUNCTION_INFO_V1(gmm_from_jsonb);
Datum
gmm_from_jsonb(PG_FUNCTION_ARGS)
{
	PG_RETURN_GMM_P(GmmFromJsonb(PG_GETARG_JSONB_P(0)));
}
