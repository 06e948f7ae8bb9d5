/*
 * test/fuzz/pg_shim.c
 *	  Just enough of the PostgreSQL backend for the fuzz harness to link the
 *	  extension's real gmm_binary.c and gmm_model.c (and the numerical core)
 *	  outside a server.  StringInfo, psprintf and snprintf come from
 *	  PostgreSQL's own libpgcommon/libpgport; this file provides the rest.
 *
 *	- palloc and friends are malloc, every block on one list, so that the
 *	  harness frees everything an input allocated (shim_reset_memory) even
 *	  when an ereport(ERROR) longjmps out of the code that allocated it;
 *	  AddressSanitizer sees each palloc as its own block.
 *	- ereport(ERROR) records the SQLSTATE and message and longjmps to
 *	  shim_catch's caller, which is what PG_TRY does in a server.  An ERROR
 *	  without errcode() is XX000, as in elog.c.
 *	- Everything else (GUCs, interrupts, detoasting, float8out) is the minimum
 *	  that behaves like the server for in-memory, untoasted values.
 */
#include "postgres.h"

#include <setjmp.h>
#include <stdio.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "pg_shim.h"

/* ------------------------------------------------------------------ memory */

typedef struct ShimBlock
{
	struct ShimBlock *next;
	struct ShimBlock *prev;
	size_t		size;
	/* the caller's bytes follow, MAXALIGNed */
} ShimBlock;

#define SHIM_HDR MAXALIGN(sizeof(ShimBlock))

static ShimBlock shim_blocks = {&shim_blocks, &shim_blocks, 0};

static void *
ShimAlloc(Size size, bool zero)
{
	ShimBlock  *b;

	if (size > MaxAllocHugeSize)
		shim_die("palloc of %zu bytes", (size_t) size);
	b = malloc(SHIM_HDR + size);
	if (b == NULL)
		shim_die("out of memory (%zu bytes)", (size_t) size);
	b->size = size;
	b->next = shim_blocks.next;
	b->prev = &shim_blocks;
	shim_blocks.next->prev = b;
	shim_blocks.next = b;
	if (zero)
		memset((char *) b + SHIM_HDR, 0, size);
	return (char *) b + SHIM_HDR;
}

static ShimBlock *
BlockOf(void *ptr)
{
	return (ShimBlock *) ((char *) ptr - SHIM_HDR);
}

void *
palloc(Size size)
{
	if (!AllocSizeIsValid(size))
		shim_die("invalid palloc size %zu", (size_t) size);
	return ShimAlloc(size, false);
}

void *
palloc0(Size size)
{
	if (!AllocSizeIsValid(size))
		shim_die("invalid palloc0 size %zu", (size_t) size);
	return ShimAlloc(size, true);
}

void *
palloc_extended(Size size, int flags)
{
	if (!(flags & MCXT_ALLOC_HUGE) && !AllocSizeIsValid(size))
		shim_die("invalid palloc_extended size %zu", (size_t) size);
	return ShimAlloc(size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void
pfree(void *ptr)
{
	ShimBlock  *b = BlockOf(ptr);

	b->prev->next = b->next;
	b->next->prev = b->prev;
	free(b);
}

void *
repalloc(void *ptr, Size size)
{
	ShimBlock  *b = BlockOf(ptr);
	void	   *n;

	if (!AllocSizeIsValid(size))
		shim_die("invalid repalloc size %zu", (size_t) size);
	n = ShimAlloc(size, false);
	memcpy(n, ptr, Min(size, b->size));
	pfree(ptr);
	return n;
}

void *
repalloc_huge(void *ptr, Size size)
{
	ShimBlock  *b = BlockOf(ptr);
	void	   *n = ShimAlloc(size, false);

	memcpy(n, ptr, Min(size, b->size));
	pfree(ptr);
	return n;
}

char *
pstrdup(const char *in)
{
	size_t		len = strlen(in) + 1;

	return memcpy(palloc(len), in, len);
}

void
shim_reset_memory(void)
{
	while (shim_blocks.next != &shim_blocks)
		pfree((char *) shim_blocks.next + SHIM_HDR);
}

/* shmem.c: overflow-checked size arithmetic */
Size
add_size(Size s1, Size s2)
{
	Size		result = s1 + s2;

	if (result < s1 || result < s2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("requested shared memory size overflows size_t")));
	return result;
}

Size
mul_size(Size s1, Size s2)
{
	Size		result;

	if (s1 == 0 || s2 == 0)
		return 0;
	result = s1 * s2;
	if (result / s2 != s1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("requested shared memory size overflows size_t")));
	return result;
}

/* ------------------------------------------------------------------ errors */

static sigjmp_buf *shim_jmp = NULL;
static int	shim_elevel;
static int	shim_sqlstate;
static char shim_message[1024];
static char shim_detail[1024];

static bool
ShimErrStart(int elevel)
{
	shim_elevel = elevel;
	if (elevel < ERROR)
		return false;			/* NOTICE, WARNING, DEBUG: not our business */
	shim_sqlstate = ERRCODE_INTERNAL_ERROR;
	shim_message[0] = '\0';
	shim_detail[0] = '\0';
	return true;
}

bool
errstart(int elevel, const char *domain)
{
	return ShimErrStart(elevel);
}

bool
errstart_cold(int elevel, const char *domain)
{
	return ShimErrStart(elevel);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (shim_elevel < ERROR)
		return;
	if (shim_jmp == NULL)
		shim_die("ERROR outside shim_catch at %s:%d: %s", filename, lineno,
				 shim_message);
	siglongjmp(*shim_jmp, 1);
}

int
errcode(int sqlerrcode)
{
	shim_sqlstate = sqlerrcode;
	return 0;
}

int
errmsg(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(shim_message, sizeof(shim_message), fmt, ap);
	va_end(ap);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(shim_message, sizeof(shim_message), fmt, ap);
	va_end(ap);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(shim_detail, sizeof(shim_detail), fmt, ap);
	va_end(ap);
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

int
shim_catch(void (*fn) (void *arg), void *arg, ShimError *err)
{
	sigjmp_buf	jb;
	sigjmp_buf *save = shim_jmp;

	if (sigsetjmp(jb, 0) != 0)
	{
		shim_jmp = save;
		err->sqlstate = shim_sqlstate;
		unpack_sql_state_into(err->sqlstate_text, shim_sqlstate);
		err->message = shim_message;
		err->detail = shim_detail;
		return 1;
	}
	shim_jmp = &jb;
	fn(arg);
	shim_jmp = save;
	return 0;
}

/* elog.c's unpack_sql_state, into the caller's buffer */
void
unpack_sql_state_into(char *buf, int sql_state)
{
	for (int i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(sql_state);
		sql_state >>= 6;
	}
	buf[5] = '\0';
}

void
shim_die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "pg_shim: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* -------------------------------------------------------- everything else */

volatile sig_atomic_t InterruptPending = false;

void
ProcessInterrupts(void)
{
}

void
DefineCustomIntVariable(const char *name, const char *short_desc,
						const char *long_desc, int *valueAddr, int bootValue,
						int minValue, int maxValue, GucContext context,
						int flags, GucIntCheckHook check_hook,
						GucIntAssignHook assign_hook, GucShowHook show_hook)
{
	*valueAddr = bootValue;
}

void
MarkGUCPrefixReserved(const char *className)
{
}

/* _PG_init's executor hook lives in gmm_score.c, which the harness does not link */
void
gmm_score_init(void)
{
}

/* only for messages: the shortest round-trip form is not needed here */
char *
float8out_internal(double num)
{
	return psprintf("%.17g", num);
}

text *
cstring_to_text(const char *s)
{
	size_t		len = strlen(s);
	text	   *t = palloc(len + VARHDRSZ);

	SET_VARSIZE(t, len + VARHDRSZ);
	memcpy(VARDATA(t), s, len);
	return t;
}

/* the harness only passes plain 4-byte-header varlenas */
struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	if (VARATT_IS_EXTENDED(datum))
		shim_die("pg_detoast_datum: compressed, external or short value");
	return datum;
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	if (VARATT_IS_COMPRESSED(datum) || VARATT_IS_EXTERNAL(datum))
		shim_die("pg_detoast_datum_packed: compressed or external value");
	return datum;
}

/* pqformat.c */
void
pq_begintypsend(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoSpaces(buf, VARHDRSZ);
}

bytea *
pq_endtypsend(StringInfo buf)
{
	bytea	   *result = (bytea *) buf->data;

	SET_VARSIZE(result, buf->len);
	return result;
}

void
pq_sendfloat8(StringInfo buf, float8 f)
{
	union
	{
		float8		f;
		int64		i;
	}			swap;

	swap.f = f;
	pq_sendint64(buf, swap.i);
}

#ifdef USE_ASSERT_CHECKING
/* Assert() failures in the extension's code are crashes */
void
ExceptionalCondition(GMM_EXCEPTIONAL_CONDITION_PARAMS,
					 const char *fileName, int lineNumber)
{
	shim_die("Assert(\"%s\") failed at %s:%d", conditionName, fileName,
			 lineNumber);
}
#endif
