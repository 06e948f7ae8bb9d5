/*
 * test/fuzz/pg_shim.h
 *	  The fuzz harness's stand-in for the PostgreSQL backend (pg_shim.c).
 */
#ifndef GMM_PG_SHIM_H
#define GMM_PG_SHIM_H

#include "gmm_compat.h"

typedef struct ShimError
{
	int			sqlstate;		/* MAKE_SQLSTATE code */
	char		sqlstate_text[6];	/* "22P03" */
	const char *message;		/* valid until the next error */
	const char *detail;
} ShimError;

/*
 * Run fn(arg).  Returns 0 when it returns normally, 1 when it raises
 * ereport(ERROR), with *err filled (the server's PG_TRY/PG_CATCH).
 */
extern int	shim_catch(void (*fn) (void *arg), void *arg, ShimError *err);

/* free every palloc'd block still allocated */
extern void shim_reset_memory(void);

extern void unpack_sql_state_into(char *buf, int sql_state);

/* report a broken harness invariant and abort (a crash libFuzzer records) */
gmm_noreturn extern void shim_die(const char *fmt,...);

#endif							/* GMM_PG_SHIM_H */
