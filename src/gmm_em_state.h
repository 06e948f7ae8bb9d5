/*
 * gmm_em_state.h
 *	  The transition states of the combinable aggregates: gmm_em_state (one
 *	  EM pass, gmm_em_step) and gmm_init_state (a bounded uniform sample of
 *	  rows, gmm_init).  Both are real SQL types, not internal: parallel
 *	  workers hand them to the leader as plain datums and Citus ships them
 *	  between nodes with their send/recv (or in/out) functions, so input
 *	  trusts nothing.
 *
 * gmm_em_state in memory (native-endian; the binary format is in
 * gmm_em_state.c):
 *
 *	GmmEmState header, then doubles:
 *	  the model the pass scores against, a complete gmm varlena
 *		(model_bytes, a multiple of 8; prec_chol and log_det included, so
 *		the E-step never decodes it again)
 *	  the statistics, gmm_stats_bind layout (shift, s0, s1, s2); the counters
 *		n_rows, sum_w and sum_loglik live in the header
 *	  a buffer of GMM_EM_BUF_ROWS rows (x: rows x d, then their weights);
 *		nbuf of them are filled and not yet in the statistics
 *
 *	  in memory only, key_bytes bytes: the model key, the model datum as the
 *		transition function first received it, still compressed or a TOAST
 *		pointer (gmm_em_step.c compares later rows' model datums with it
 *		before decompressing anything); input and output ignore it
 *
 * The buffer lets the E-step run over blocks of rows with BLAS-3.  Only the
 * transition function (and the combine function, on its first argument)
 * flushes it into the statistics, in place; the final and send functions
 * flush into a copy, so they never change the state.
 */
#ifndef GMM_EM_STATE_H
#define GMM_EM_STATE_H

#include "gmm.h"
#include "gmm_row.h"

/*
 * The in-memory layout's version.  2 (gmm 1.2) added n_missing and flag
 * GMM_EM_FLAG_MISSING (missing => 'em': buffered rows may hold NaN for a
 * missing value); a state is transient, so a version-1 datum kept in a
 * table is refused (compute it again).  The binary format keeps its
 * version 1: the flag, in its flags byte, announces the missing count after
 * the buffered weights (gmm_em_state.c), so states without it keep their
 * bytes.
 */
#define GMM_EM_STATE_VERSION	2
#define GMM_EM_WIRE_VERSION		1
#define GMM_EM_FLAG_MISSING		0x02
/*
 * flags: the state also carries a quantile sketch of the rows'
 * log-densities (GmmSketch, after the buffer; gmm_calibrate and gmm_train's
 * final pass)
 */
#define GMM_EM_STATE_SKETCH		0x01
/* rows buffered before one blocked E-step (the core's block length) */
#define GMM_EM_BUF_ROWS			256

typedef struct GmmEmState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint8		version;		/* GMM_EM_STATE_VERSION */
	uint8		cov_type;		/* GmmCovType, as the model's */
	uint8		flags;			/* GMM_EM_STATE_SKETCH, GMM_EM_FLAG_MISSING, or zero */
	uint8		reserved8;		/* zero */
	int32		k;
	int32		d;
	int32		nbuf;			/* buffered rows, 0 .. GMM_EM_BUF_ROWS - 1 */
	int32		model_bytes;	/* VARSIZE of the embedded model */
	uint64		fingerprint;	/* gmm_model_fingerprint of the model */
	int64		n_rows;			/* rows in the statistics (weight > 0) */
	double		sum_w;			/* their weights */
	double		sum_loglik;		/* sum of w * log p(x) */
	int64		n_missing;		/* missing values of the rows in the
								 * statistics */
	int64		key_bytes;		/* in memory only: bytes of the model key
								 * after the buffer, 0 if none (see
								 * gmm_em_state_key); never sent */
	double		data[FLEXIBLE_ARRAY_MEMBER];
} GmmEmState;

#define GMM_EM_STATE_HEADER_SIZE	offsetof(GmmEmState, data)

/* pointers into a state, and its statistics with the header's counters */
typedef struct GmmEmView
{
	GmmModel   *model;
	GmmParams	params;
	GmmStats	stats;
	double	   *xbuf;			/* GMM_EM_BUF_ROWS x d */
	double	   *wbuf;			/* GMM_EM_BUF_ROWS */
	GmmSketch  *sketch;			/* with GMM_EM_STATE_SKETCH, else NULL (also
								 * stats.sketch: the E-step feeds it) */
} GmmEmView;

#define DatumGetGmmEmStateP(x)	((GmmEmState *) PG_DETOAST_DATUM(x))

/* gmm_em_state.c */
extern uint64 gmm_model_fingerprint(GmmModel *m);
extern Size gmm_em_state_size(GmmCovType t, int k, int d, Size model_bytes);
extern GmmEmState *gmm_em_state_create(GmmModel *m,
										const struct varlena *key);
extern GmmEmState *gmm_em_state_create_flags(GmmModel *m,
											  const struct varlena *key,
											  uint8 flags);
extern const struct varlena *gmm_em_state_key(const GmmEmState *s);
extern void gmm_em_state_view(GmmEmState *s, GmmEmView *v);
extern void gmm_em_state_store_counters(GmmEmState *s, const GmmStats *st);
extern void gmm_em_accumulate(GmmStats *st, const GmmParams *p,
							  const double *X, const double *w, int n,
							  int64 *n_missing);
/* gmm_em_step.c: the transition of a pass whose state carries a sketch */
extern Datum gmm_em_step_transition_sketch(FunctionCallInfo fcinfo,
										   bool weighted, GmmRowReader read);
extern void gmm_em_state_check_compatible(const GmmEmState *a,
										  const GmmEmState *b);

/* text form of gmm_em_state: its binary format in hex (gmm_init_state: base64) */
extern char *gmm_state_hex_encode(const bytea *b);
extern char *gmm_state_hex_decode(const char *str, const char *type,
								  size_t *len);

/* the gmm_init_state type, gmm_init.c */
#define GMM_INIT_STATE_VERSION	2

#endif							/* GMM_EM_STATE_H */
