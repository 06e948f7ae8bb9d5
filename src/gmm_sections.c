/*
 * gmm_sections.c
 *	  The sections of format version 2: the registry of section kinds, finding,
 *	  adding and checking sections, and the MISSING kind's check.
 *
 * In memory (and on disk) a version-2 model is a version-1 model followed by
 * sections, each a GmmSection header (uint16 tag, uint16 flags = 0, uint32
 * nwords) and nwords doubles, in increasing tag order, each tag at most once,
 * exactly filling the varlena.  The header and the payload are multiples of
 * 8 bytes, so every payload is aligned as double.  The binary send format
 * (gmm_binary.c) and the text form (gmm_text.c) are generic over sections:
 * a new kind of section is one GmmSectionKind (tag, JSON key, check) with
 * one line in the table below, and one GmmSectionJson (to_json, from_json)
 * with one line in gmm_text.c's table.  An unknown tag is an error: a model is
 * never read with a part of it dropped.
 *
 * This file is linked by the fuzz harness: no jsonb or fmgr calls here (the
 * kinds' JSON functions live in other files).
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/float.h"

#include "gmm.h"

/* the section kinds, by tag */
static const GmmSectionKind *const section_kinds[] = {
	&gmm_section_missing,
	&gmm_section_calibration,
	&gmm_section_bayesian,
};

const GmmSectionKind *
gmm_section_kind(int tag)
{
	for (int i = 0; i < lengthof(section_kinds); i++)
		if ((int) section_kinds[i]->tag == tag)
			return section_kinds[i];
	return NULL;
}

const GmmSectionKind *
gmm_section_kind_by_key(const char *key, int len)
{
	for (int i = 0; i < lengthof(section_kinds); i++)
	{
		const char *k = section_kinds[i]->json_key;

		if ((int) strlen(k) == len && memcmp(k, key, len) == 0)
			return section_kinds[i];
	}
	return NULL;
}

/* bytes of a section with nwords doubles, header included */
static inline Size
SectionBytes(uint32 nwords)
{
	return sizeof(GmmSection) + (Size) nwords * sizeof(double);
}

const double *
gmm_model_section(const GmmModel *m, GmmSectionTag tag, uint32 *nwords)
{
	const char *p = gmm_model_sections_start(m);
	const char *end = (const char *) m + VARSIZE(m);

	/* gmm_model_finish has checked the structure */
	while (p < end)
	{
		const GmmSection *s = (const GmmSection *) p;

		if (s->tag == (uint16) tag)
		{
			if (nwords != NULL)
				*nwords = s->nwords;
			return (const double *) (p + sizeof(GmmSection));
		}
		p += SectionBytes(s->nwords);
	}
	if (nwords != NULL)
		*nwords = 0;
	return NULL;
}

/*
 * The structure of the sections between base_size (the size of the model
 * without them) and VARSIZE, then each kind's check.  Returns whether there
 * is any section.
 */
bool
gmm_model_check_sections(GmmModel *m, Size base_size, int struct_code)
{
	char	   *start = (char *) m + base_size;
	char	   *end = (char *) m + VARSIZE(m);
	char	   *p;
	int			last_tag = 0;

	if (VARSIZE(m) < base_size)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("gmm value has %zu bytes, expected at least %zu",
						(Size) VARSIZE(m), base_size)));
	/* the structure first, so that no check reads past the end */
	for (p = start; p < end;)
	{
		GmmSection *s = (GmmSection *) p;

		if ((Size) (end - p) < sizeof(GmmSection))
			ereport(ERROR,
					(errcode(struct_code),
					 errmsg("invalid gmm section: %zu bytes left for a section header",
							(Size) (end - p))));
		if (gmm_section_kind(s->tag) == NULL)
			ereport(ERROR,
					(errcode(struct_code),
					 errmsg("unknown gmm section %d", (int) s->tag),
					 errdetail("This version of the extension knows sections 1 to %d.",
							   GMM_SECTION_MAX_TAG),
					 errhint("The model was written by a newer version of gmm; update the extension to read it.")));
		if ((int) s->tag <= last_tag)
			ereport(ERROR,
					(errcode(struct_code),
					 errmsg("invalid gmm sections: section %d after section %d",
							(int) s->tag, last_tag),
					 errdetail("Sections are in increasing order, each at most once.")));
		if (s->flags != 0)
			ereport(ERROR,
					(errcode(struct_code),
					 errmsg("invalid gmm section %d: unknown flags 0x%04x",
							(int) s->tag, (unsigned) s->flags)));
		if (s->nwords > GMM_SECTION_MAX_WORDS ||
			SectionBytes(s->nwords) > (Size) (end - p))
			ereport(ERROR,
					(errcode(struct_code),
					 errmsg("invalid gmm section %d: %u doubles do not fit in the value",
							(int) s->tag, s->nwords)));
		last_tag = s->tag;
		p += SectionBytes(s->nwords);
	}
	for (p = start; p < end;)
	{
		GmmSection *s = (GmmSection *) p;
		double	   *words = (double *) (p + sizeof(GmmSection));

		for (uint32 i = 0; i < s->nwords; i++)
			if (words[i] == 0.0)
				words[i] = 0.0; /* no -0 */
		gmm_section_kind(s->tag)->check(m, words, s->nwords, struct_code);
		p += SectionBytes(s->nwords);
	}
	return end > start;
}

GmmModel *
gmm_model_set_section(const GmmModel *m, GmmSectionTag tag,
					  const double *words, uint32 nwords)
{
	GmmModel   *out = gmm_model_add_section_unchecked(m, tag, words, nwords);

	gmm_model_finish(out, ERRCODE_DATA_EXCEPTION);
	return out;
}

/* gmm_model_set_section without the validation, for input paths that finish later */
GmmModel *
gmm_model_add_section_unchecked(const GmmModel *m, GmmSectionTag tag,
								const double *words, uint32 nwords)
{
	const char *start = gmm_model_sections_start(m);
	const char *end = (const char *) m + VARSIZE(m);
	Size		base = start - (const char *) m;
	Size		size = base;
	const char *p;
	char	   *q;
	GmmModel   *out;
	bool		placed = false;

	if (gmm_section_kind(tag) == NULL)
		elog(ERROR, "unknown gmm section %d", (int) tag);
	if (words != NULL && nwords > GMM_SECTION_MAX_WORDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gmm section %d is too large", (int) tag),
				 errdetail("It has %u doubles, the maximum is %d.", nwords,
						   GMM_SECTION_MAX_WORDS)));
	for (p = start; p < end; p += SectionBytes(((const GmmSection *) p)->nwords))
		if (((const GmmSection *) p)->tag != (uint16) tag)
			size = add_size(size, SectionBytes(((const GmmSection *) p)->nwords));
	if (words != NULL)
		size = add_size(size, SectionBytes(nwords));
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gmm model is too large"),
				 errdetail("It would need %zu bytes, the maximum is %zu.", size,
						   (Size) MaxAllocSize)));

	out = (GmmModel *) palloc(size);
	memcpy(out, m, base);
	SET_VARSIZE(out, size);
	q = (char *) out + base;
	for (p = start;; p += SectionBytes(((const GmmSection *) p)->nwords))
	{
		const GmmSection *s = p < end ? (const GmmSection *) p : NULL;

		/* the new section goes before the first one with a larger tag */
		if (!placed && words != NULL && (s == NULL || s->tag > (uint16) tag))
		{
			GmmSection	h = {(uint16) tag, 0, nwords};

			memcpy(q, &h, sizeof(h));
			memcpy(q + sizeof(h), words, (Size) nwords * sizeof(double));
			q += SectionBytes(nwords);
			placed = true;
		}
		if (s == NULL)
			break;
		if (s->tag != (uint16) tag)
		{
			memcpy(q, p, SectionBytes(s->nwords));
			q += SectionBytes(s->nwords);
		}
	}
	Assert(q == (char *) out + size);
	/* holding a section, it is a version-2 value (gmm_model_finish settles it) */
	out->version = 2;
	return out;
}

/* ------------------------------------------------------ MISSING: [n_missing] */

static void
CheckMissing(const GmmModel *m, double *words, uint32 nwords, int struct_code)
{
	if (nwords != 1)
		ereport(ERROR,
				(errcode(struct_code),
				 errmsg("invalid gmm section \"n_missing\": %u values, expected 1",
						nwords)));
	if (!(words[0] >= 1.0 && words[0] <= 9007199254740992.0 &&
		  words[0] == floor(words[0])))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("\"n_missing\" must be a positive integer"),
				 errdetail("The value is %s; a model without missing values has no \"n_missing\".",
						   float8out_internal(words[0]))));
	if (m->n_samples > 0 &&
		words[0] > (double) m->n_samples * (double) m->n_features)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("\"n_missing\" is larger than the number of values"),
				 errdetail("%s values missing out of " INT64_FORMAT " rows of %d features.",
						   float8out_internal(words[0]), m->n_samples,
						   m->n_features)));
}

/* values missing in the training rows (0 when the model has no such section) */
int64
gmm_model_n_missing(const GmmModel *m)
{
	const double *w = gmm_model_section(m, GMM_SECTION_MISSING, NULL);

	return w != NULL ? (int64) w[0] : 0;
}

const GmmSectionKind gmm_section_missing = {
	GMM_SECTION_MISSING, "n_missing", CheckMissing
};
