/*
 * em.c
 *	  Expectation-maximisation for Gaussian mixtures: per-row scoring, the
 *	  blocked E-step with its additive sufficient statistics, scikit-learn's
 *	  M-step, and the fit loop with its initialisations.  Part of the
 *	  numerical core: no PostgreSQL headers.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "blas.h"
#include "gmm_core.h"
#include "vec8.h"
#include "fullsmall.h"

#define LOG_2PI 1.8378770664093454836

/* scikit-learn adds 10 machine epsilons to every component's mass */
#define NK_EPS (10.0 * DBL_EPSILON)

/* round n up to a multiple of 8: whole vectors at either width (em_block.h) */
static inline int
vround(int n)
{
	return (n + VW - 1) & ~(VW - 1);
}

/* tied: the one shift of the statistics, sum_j weights_j means_j */
static void
tied_shift(const GmmParams *p, double *c)
{
	memset(c, 0, sizeof(double) * p->d);
	for (int j = 0; j < p->k; j++)
		for (int t = 0; t < p->d; t++)
			c[t] += p->weights[j] * p->means[(size_t) j * p->d + t];
}

int
gmm_row_responsibilities(int k, double *logprob, double lse)
{
	int			best = 0;

	for (int j = 0; j < k; j++)
	{
		logprob[j] = exp(logprob[j] - lse);
		if (logprob[j] > logprob[best])
			best = j;
	}
	return best;
}

/* ---------------------------------------------------------------------
 * Sufficient statistics
 * ---------------------------------------------------------------------
 */

static size_t
stats_s2_size(GmmCovType t, int k, int d)
{
	if (t == GMM_COV_FULL)
		return (size_t) k * d * d;
	if (t == GMM_COV_TIED)
		return (size_t) d * d;
	return (size_t) k * d;
}

static size_t
stats_shift_size(GmmCovType t, int k, int d)
{
	return t == GMM_COV_TIED ? (size_t) d : (size_t) k * d;
}

size_t
gmm_stats_ndoubles(GmmCovType t, int k, int d)
{
	return stats_shift_size(t, k, d) + (size_t) k + (size_t) k * d +
		stats_s2_size(t, k, d);
}

void
gmm_stats_bind(GmmStats *s, GmmCovType t, int k, int d, double *buf)
{
	s->cov_type = t;
	s->k = k;
	s->d = d;
	s->shift = buf;
	s->s0 = s->shift + stats_shift_size(t, k, d);
	s->s1 = s->s0 + k;
	s->s2 = s->s1 + (size_t) k * d;
	s->log_weights = NULL;
	s->want_entropy = false;
	s->sum_entropy = 0.0;
	s->sketch = NULL;
}

/* zero the sums, keep the shift */
static void
stats_zero(GmmStats *s)
{
	s->n_rows = 0;
	s->sum_w = 0.0;
	s->sum_loglik = 0.0;
	s->sum_entropy = 0.0;
	memset(s->s0, 0, sizeof(double) *
		   ((size_t) s->k + (size_t) s->k * s->d +
			stats_s2_size(s->cov_type, s->k, s->d)));
}

void
gmm_stats_reset(GmmStats *s, const GmmParams *model)
{
	stats_zero(s);
	if (s->cov_type == GMM_COV_TIED)
		tied_shift(model, s->shift);
	else
		memcpy(s->shift, model->means, sizeof(double) * s->k * s->d);
}

/*
 * Workspace of the blocked E-step and statistics.  A block of up to B rows
 * is transposed once (feature-major, d x B), so that every inner loop runs
 * over the rows of the block with unit stride, a vector of rows at a time
 * (em_block.h: GCC vector extensions, eight rows or four),
 * without reassociating any sum a scalar loop would do in row order.  Log-
 * probabilities and responsibilities are component-major (k x B) for the
 * same reason.  B is a multiple of 8; rows past the end of the last block
 * are padded with zeros and never enter a sum.
 *
 *	logw, base	k: log weights, and log weight + log det - d/2 log(2 pi)
 *	c			d: the centre of XT (tied: the shift; else the mean shift)
 *	Ut			full: k d x d (column-major d x kd, [U_1 ... U_k]); tied: d x d
 *	off			k x d: full and tied (mu_j - c) U_j; diag and spherical mu_j - c
 *	a			k x d: mu_j - c
 *	lp			k x B: log-probabilities, then responsibilities
 *	X0T, XT		d x B each: the block as stored, and centred by c
 *	Y			d x B: a per-component scaled copy
 *	H			g d x B: XT^T [U_j ...] for a group of g components (full)
 *	sq, m, s	B each: per-row scratch
 *	pf, pf_len, pf_left	the next block's rows, asked for a part at a time
 *				while this block's E-step runs (block_transpose, estep_block)
 */
typedef struct BlockWork
{
	int			B;				/* rows per block, a multiple of 8 */
	uintptr_t	pf;
	size_t		pf_len;
	size_t		pf_left;
	double	   *logw;
	double	   *base;
	double	   *c;
	double	   *Ut;
	double	   *Up;				/* fullsmall: k x d x dpad padded factors */
	double	   *op;				/* fullsmall: k x dpad padded offsets */
	double	   *off;
	double	   *a;
	double	   *lp;
	double	   *X0T;
	double	   *XT;
	double	   *Y;
	double	   *H;
	double	   *sq;
	double	   *m;
	double	   *s;
} BlockWork;

/*
 * From this many features on, full covariances use the triangular BLAS
 * (dtrmm per component in the E-step, dsyrk in the statistics): half the
 * flops of dgemm, and the calls are large enough to run near DGEMM speed.
 * Below it, one dgemm for many components at once wins over the call
 * overhead of small triangular calls.  gmm's own kernels replace both
 * (fullsmall.c) on a CPU with AVX-512 up to GMM_FULLSMALL_MAX_D features,
 * and below this same threshold on one with AVX2 and FMA, whose four-wide
 * kernels the triangular BLAS matches from there on: one number
 * (fullsmall.h), so that overriding it moves both.
 */
#define EM_TRI_MIN_D GMM_FULLSMALL_BLAS_MIN_D

/*
 * Rows per block: large enough that the per-component BLAS calls of a block
 * (dsyrk, dgemv) are not dominated by their call overhead, small enough that
 * the k x B and d x B arrays stay in cache.  Full covariances of up to
 * EM_SMALL_BLOCK_MAX_D features on gmm's own kernels (fullsmall.c), which
 * have no call overhead to amortise, take blocks of at most
 * EM_SMALL_BLOCK_ROWS: their centred and weighted rows, written for the
 * scatter and read back from it once per 4 x 4 tile, then stay in the
 * first-level cache.  `em_bench fit N D K full 2 12 3` with B forced, on
 * an Intel Xeon with AVX-512 (family 6 model 167, the other core busy),
 * seconds per iteration, two or three interleaved runs: 200k x 8, K = 4:
 * 0.0134-0.0136 at 2048 rows (the rule above), 0.0105-0.0109 at 512,
 * 0.0088-0.0090 at 256, 0.0072-0.0076 at 128, 0.0077-0.0082 at 64; 300k x
 * 16, K = 8: 0.079-0.082 at 1024 (the rule above), 0.068-0.070 at 256,
 * 0.060-0.061 at 128, 0.056-0.058 at 64; 100k x 32, K = 8: 0.065-0.067 at
 * 512 (the rule above), 0.062-0.064 from 256 down to 64; but 100k x 64, K =
 * 8: 0.184-0.192 at 256 (the rule above), 0.197-0.203 at 128.  With the
 * other core idle, earlier, 300k x 16 showed no difference between 1024
 * and 128 rows (0.042-0.048 either way): the gain is a working set that
 * stays put when other work competes for the shared caches.
 */
#define EM_SMALL_BLOCK_MAX_D 32
#define EM_SMALL_BLOCK_ROWS 128

static int
em_block_rows(GmmCovType t, int k, int d)
{
	size_t		b = ((size_t) 1 << 17) / ((size_t) k * d);

	if (b > 2048)
		b = 2048;
	if (b < 64)
		b = 64;
	if (t == GMM_COV_FULL && d <= EM_SMALL_BLOCK_MAX_D && gmm_fullsmall_use(d) &&
		b > EM_SMALL_BLOCK_ROWS)
		b = EM_SMALL_BLOCK_ROWS;
	return (int) (b & ~(size_t) (VW - 1));
}

/* components per dgemm of the full E-step: H (g d x B) near 1 MB */
static int
em_group(int k, int d, int B)
{
	size_t		g = ((size_t) 1 << 17) / ((size_t) d * B);

	if (g < 1)
		g = 1;
	return g < (size_t) k ? (int) g : k;
}

size_t
gmm_stats_work_ndoubles(GmmCovType t, int k, int d)
{
	size_t		B = em_block_rows(t, k, d);
	size_t		kd = (size_t) k * d;

	return 2 * (size_t) k + d + kd * d + 2 * kd +
		(size_t) k * gmm_fullsmall_dpad(d) * (d + 1) +
		B * ((size_t) k + 3 * (size_t) d +
			 (size_t) em_group(k, d, (int) B) * d + 3);
}

static void
block_work_bind(BlockWork *bw, GmmCovType t, int k, int d, double *work)
{
	size_t		B = em_block_rows(t, k, d);
	size_t		kd = (size_t) k * d;

	bw->B = (int) B;
	bw->pf = 0;					/* nothing to prefetch before a transpose */
	bw->pf_len = bw->pf_left = 0;
	bw->logw = work;
	bw->base = bw->logw + k;
	bw->c = bw->base + k;
	bw->Ut = bw->c + d;
	bw->Up = bw->Ut + kd * d;
	bw->op = bw->Up + kd * gmm_fullsmall_dpad(d);
	bw->off = bw->op + (size_t) k * gmm_fullsmall_dpad(d);
	bw->a = bw->off + kd;
	bw->lp = bw->a + kd;
	bw->X0T = bw->lp + B * k;
	bw->XT = bw->X0T + B * d;
	bw->Y = bw->XT + B * d;
	bw->H = bw->Y + B * d;
	bw->sq = bw->H + B * (size_t) em_group(k, d, (int) B) * d;
	bw->m = bw->sq + B;
	bw->s = bw->m + B;
}

/* bw->c from the statistics' shift: tied its one shift, else the mean shift */
static void
block_centre(const GmmStats *s, BlockWork *bw)
{
	int			d = s->d;

	if (s->cov_type == GMM_COV_TIED)
	{
		memcpy(bw->c, s->shift, sizeof(double) * d);
		return;
	}
	memset(bw->c, 0, sizeof(double) * d);
	for (int j = 0; j < s->k; j++)
		for (int t = 0; t < d; t++)
			bw->c[t] += s->shift[(size_t) j * d + t];
	for (int t = 0; t < d; t++)
		bw->c[t] /= s->k;
}

/* the next 1/parts of the next block's rows (block_transpose) */
static inline void
block_prefetch(BlockWork *bw, int parts)
{
	size_t		len = (bw->pf_len / (size_t) parts + 63) & ~(size_t) 63;

	if (len > bw->pf_left)
		len = bw->pf_left;
	gmm_prefetch_l2(bw->pf, len);
	bw->pf += len;
	bw->pf_left -= len;
}

/*
 * The block kernels (em_block.h) at eight doubles a vector, built for
 * AVX-512 and the baseline ...
 */
#define EB_W 8
#define EB_V v8d
#define EB_L v8l
#define EB_LOAD vload
#define EB_STORE vstore
#define EB_SPLAT vsplat
#define EB_SUM vsum
#define EB_EXP v8_exp_nonpos
#define EB_KERNEL GMM_KERNEL
#define EB_NAME(f) f##_8
#include "em_block.h"

/* ... and at four, for AVX2 with FMA (where the compiler has the clones) */
#ifdef GMM_KERNEL_AVX2_ONLY
#define EB_W 4
#define EB_V v4d
#define EB_L v4l
#define EB_LOAD v4load
#define EB_STORE v4store
#define EB_SPLAT v4splat
#define EB_SUM v4sum
#define EB_EXP v4_exp_nonpos
#define EB_KERNEL GMM_KERNEL_AVX2_ONLY
#define EB_NAME(f) f##_4
#include "em_block.h"
#define EM_HAVE_WIDTH4 1
#else
#define EM_HAVE_WIDTH4 0
#endif

/* gmm_em_set_width's choice: 0, by the CPU */
static int	em_width_set = 0;

void
gmm_em_set_width(int width)
{
	em_width_set = width == 8 || (width == 4 && EM_HAVE_WIDTH4 && GMM_CPU_AVX2()) ?
		width : 0;
}

int
gmm_em_width(void)
{
	if (em_width_set)
		return em_width_set;
	return EM_HAVE_WIDTH4 && GMM_CPU_AVX2() && !GMM_CPU_AVX512() ? 4 : 8;
}

/* each kernel at the width gmm_em_width says (the four-wide where built) */
#if EM_HAVE_WIDTH4
#define EB_CALL(f, ...) (gmm_em_width() == 4 ? f##_4(__VA_ARGS__) : f##_8(__VA_ARGS__))
#else
#define EB_CALL(f, ...) f##_8(__VA_ARGS__)
#endif

static inline void
block_transpose(const double *Xb, int n, int d, BlockWork *bw)
{
	EB_CALL(block_transpose, Xb, n, d, bw);
}

static inline void
stats_add_block(GmmStats *s, const double *wb, int n, double *resp,
				bool want_s2, BlockWork *bw)
{
	EB_CALL(stats_add_block, s, wb, n, resp, want_s2, bw);
}

static inline void
estep_block(const GmmParams *p, int n, BlockWork *bw)
{
	EB_CALL(estep_block, p, n, bw);
}

static inline double
block_responsibilities(int k, int n, const double *wb, BlockWork *bw,
					   double *entropy)
{
	return EB_CALL(block_responsibilities, k, n, wb, bw, entropy);
}

/*
 * Per-pass setup of the E-step against model p with statistics s: log
 * weights and constants, the centre, the concatenated factors and offsets.
 */
static void
estep_prepare(const GmmParams *p, const GmmStats *s, BlockWork *bw)
{
	int			k = p->k;
	int			d = p->d;
	double		cst = -0.5 * d * LOG_2PI;

	block_centre(s, bw);
	for (int j = 0; j < k; j++)
	{
		bw->logw[j] = s->log_weights ? s->log_weights[j] : log(p->weights[j]);
		bw->base[j] = bw->logw[j] + p->log_det[j] + cst;
		for (int t = 0; t < d; t++)
			bw->off[(size_t) j * d + t] = bw->a[(size_t) j * d + t] =
				p->means[(size_t) j * d + t] - bw->c[t];
	}
	if (p->cov_type == GMM_COV_FULL || p->cov_type == GMM_COV_TIED)
	{
		int			nb = p->cov_type == GMM_COV_FULL ? k : 1;

		/* Ut[a + (j d + t) d] = U_j[a][t]: column-major d x (nb d) */
		for (int j = 0; j < nb; j++)
		{
			const double *U = p->prec_chol + (size_t) j * d * d;

			for (int t = 0; t < d; t++)
				for (int a = 0; a < d; a++)
					bw->Ut[((size_t) j * d + t) * d + a] = U[(size_t) a * d + t];
		}
		/* off_j = (mu_j - c) U in place (U upper: a <= t; high t first) */
		for (int j = 0; j < k; j++)
		{
			const double *U = p->prec_chol +
				(p->cov_type == GMM_COV_FULL ? (size_t) j * d * d : 0);
			double	   *o = bw->off + (size_t) j * d;

			for (int t = d - 1; t >= 0; t--)
			{
				double		z = 0.0;

				for (int a = 0; a <= t; a++)
					z += o[a] * U[(size_t) a * d + t];
				o[t] = z;
			}
		}
		if (p->cov_type == GMM_COV_FULL && gmm_fullsmall_use(d))
		{
			size_t		dp = gmm_fullsmall_dpad(d);

			for (int j = 0; j < k; j++)
				gmm_fullsmall_factor(p->prec_chol + (size_t) j * d * d,
									 bw->off + (size_t) j * d, d,
									 bw->Up + (size_t) j * d * dp, bw->op + j * dp);
		}
	}
}


void
gmm_stats_accumulate(GmmStats *s, const GmmParams *model, const double *X,
					 const double *w, size_t n, double *work,
					 const GmmHooks *hooks)
{
	int			k = s->k;
	int			d = s->d;
	BlockWork	bw;

	block_work_bind(&bw, s->cov_type, k, d, work);
	estep_prepare(model, s, &bw);
	for (size_t i0 = 0; i0 < n; i0 += bw.B)
	{
		int			nb = (int) (n - i0 < (size_t) bw.B ? n - i0 : (size_t) bw.B);
		const double *wb = w ? w + i0 : NULL;

		hooks->check_interrupts(hooks->arg);
		block_transpose(X + i0 * d, nb, d, &bw);
		estep_block(model, nb, &bw);
		s->sum_loglik += block_responsibilities(k, nb, wb, &bw,
												s->want_entropy ? &s->sum_entropy : NULL);
		if (s->sketch)
			for (int i = 0; i < nb; i++)
				gmm_sketch_add(s->sketch, bw.m[i] + log(bw.s[i]), wb ? wb[i] : 1.0);
		stats_add_block(s, wb, nb, bw.lp, true, &bw);
	}
}

/*
 * The parallel E-step (see gmm_core.h).  A chunk is EM_CHUNK_BLOCKS blocks;
 * chunks are handed out in waves of EM_WAVE_CHUNKS per thread, each into
 * its own slot of statistics, which the caller's thread adds to s in chunk
 * order after the wave, then checks for interrupts.  A chunk's sums start
 * from zero, so the first chunk added to a reset s is exactly what
 * gmm_stats_accumulate makes of those rows.
 */
#define EM_CHUNK_BLOCKS 64
#define EM_WAVE_CHUNKS 2

size_t
gmm_stats_chunk_rows(GmmCovType t, int k, int d)
{
	return (size_t) EM_CHUNK_BLOCKS * em_block_rows(t, k, d);
}

/* what the threads of a parallel E-step use, made once per fit */
struct GmmEstepPool
{
	size_t		chunk_rows;
	int			workers;
	int			wave;			/* chunks per wave */
	GmmStats   *slot;			/* one per chunk of a wave */
	BlockWork  *bw;				/* one per thread */
	double	   *buf;
	GmmTeam    *team;			/* the threads, while a pass runs */
	bool		team_on;
};

GmmEstepPool *
gmm_estep_pool_create(GmmCovType t, int k, int d, int workers,
					  size_t chunk_rows, const GmmHooks *hooks)
{
	GmmEstepPool *pool = hooks->alloc(sizeof(GmmEstepPool), hooks->arg);
	size_t		nst = gmm_stats_ndoubles(t, k, d);
	size_t		nwork = gmm_stats_work_ndoubles(t, k, d);
	size_t		B = (size_t) em_block_rows(t, k, d);

	if (workers < 1)
		workers = 1;
	if (workers > GMM_MAX_FIT_WORKERS)
		workers = GMM_MAX_FIT_WORKERS;
	/* whole blocks: a chunk's first block is one of gmm_stats_accumulate's */
	pool->chunk_rows = chunk_rows == 0 ? gmm_stats_chunk_rows(t, k, d) :
		(chunk_rows + B - 1) / B * B;
	pool->workers = workers;
	pool->wave = workers == 1 ? 1 : EM_WAVE_CHUNKS * workers;
	pool->slot = hooks->alloc(sizeof(GmmStats) * pool->wave, hooks->arg);
	pool->bw = hooks->alloc(sizeof(BlockWork) * workers, hooks->arg);
	pool->team = hooks->alloc(gmm_team_size(), hooks->arg);
	pool->team_on = false;
	pool->buf = hooks->alloc(sizeof(double) * (nst * pool->wave + nwork * workers),
							 hooks->arg);
	for (int i = 0; i < pool->wave; i++)
		gmm_stats_bind(&pool->slot[i], t, k, d, pool->buf + nst * i);
	for (int i = 0; i < workers; i++)
		block_work_bind(&pool->bw[i], t, k, d, pool->buf + nst * pool->wave + nwork * i);
	return pool;
}

void
gmm_estep_pool_release(GmmEstepPool *pool, const GmmHooks *hooks)
{
	hooks->release(pool->buf, hooks->arg);
	hooks->release(pool->team, hooks->arg);
	hooks->release(pool->bw, hooks->arg);
	hooks->release(pool->slot, hooks->arg);
	hooks->release(pool, hooks->arg);
}

typedef struct ChunkJob
{
	const GmmParams *model;
	const double *X;
	const double *w;
	size_t		n;
	size_t		chunk_rows;
	size_t		first_chunk;	/* the wave's first */
	GmmEstepPool *pool;
} ChunkJob;

static void
chunk_task(int task, int worker, void *arg)
{
	ChunkJob   *job = (ChunkJob *) arg;
	GmmStats   *cs = &job->pool->slot[task];
	BlockWork  *bw = &job->pool->bw[worker];
	int			k = cs->k;
	int			d = cs->d;
	size_t		start = (job->first_chunk + (size_t) task) * job->chunk_rows;
	size_t		end = start + job->chunk_rows < job->n ? start + job->chunk_rows : job->n;

	stats_zero(cs);
	for (size_t i0 = start; i0 < end; i0 += bw->B)
	{
		int			nb = (int) (end - i0 < (size_t) bw->B ? end - i0 : (size_t) bw->B);
		const double *wb = job->w ? job->w + i0 : NULL;

		block_transpose(job->X + i0 * d, nb, d, bw);
		estep_block(job->model, nb, bw);
		cs->sum_loglik += block_responsibilities(k, nb, wb, bw,
												 cs->want_entropy ? &cs->sum_entropy : NULL);
		stats_add_block(cs, wb, nb, bw->lp, true, bw);
	}
}

void
gmm_stats_accumulate_parallel(GmmStats *s, const GmmParams *model,
							  const double *X, const double *w, size_t n,
							  GmmEstepPool *pool, const GmmHooks *hooks)
{
	size_t		chunk_rows = pool->chunk_rows;
	size_t		nchunks = (n + chunk_rows - 1) / chunk_rows;
	size_t		shift = stats_shift_size(s->cov_type, s->k, s->d);
	ChunkJob	job;

	/*
	 * A pass that feeds a sketch (the final E-step of a fit: calibration)
	 * runs on the caller's thread, in row order: the sketch is not shared
	 * between threads, and the pass is one of many.
	 */
	if (s->sketch != NULL)
	{
		gmm_stats_accumulate(s, model, X, w, n, pool->bw[0].logw, hooks);
		return;
	}
	job.model = model;
	job.X = X;
	job.w = w;
	job.n = n;
	job.chunk_rows = chunk_rows;
	job.pool = pool;
	for (int i = 0; i < pool->wave; i++)
	{
		memcpy(pool->slot[i].shift, s->shift, sizeof(double) * shift);
		pool->slot[i].log_weights = s->log_weights;
		pool->slot[i].want_entropy = s->want_entropy;
	}
	for (int t = 0; t < pool->workers; t++)
		estep_prepare(model, s, &pool->bw[t]);

	/*
	 * The threads are started once for the pass and woken per wave (a
	 * wave at 1e6 x 16 x 8 is 4 chunks of 8192 rows, about 3 ms on two
	 * threads: started per wave, the second thread ran 1.25-4.75 ms of
	 * each 6 ms wave, and two workers were 1.50-1.56x one).  They are
	 * stopped before an interrupt is served, which may leave by longjmp.
	 */
	hooks->check_interrupts(hooks->arg);
	for (size_t c0 = 0; c0 < nchunks; c0 += pool->wave)
	{
		int			nc = (int) (nchunks - c0 < (size_t) pool->wave ?
								nchunks - c0 : (size_t) pool->wave);

		if (c0 > 0)
		{
			if (hooks->interrupt_pending == NULL)
				hooks->check_interrupts(hooks->arg);
			else if (pool->team_on && hooks->interrupt_pending(hooks->arg))
			{
				gmm_team_stop(pool->team);
				pool->team_on = false;
				hooks->check_interrupts(hooks->arg);
			}
		}
		if (!pool->team_on)
		{
			gmm_team_start(pool->team, pool->workers);
			pool->team_on = true;
		}
		job.first_chunk = c0;
		gmm_team_run(pool->team, nc, chunk_task, &job);
		for (int i = 0; i < nc; i++)
			gmm_stats_merge(s, &pool->slot[i]);
	}
	gmm_team_stop(pool->team);
	pool->team_on = false;
}

void
gmm_stats_merge(GmmStats *a, const GmmStats *b)
{
	size_t		m = (size_t) a->k + (size_t) a->k * a->d +
		stats_s2_size(a->cov_type, a->k, a->d);

	a->n_rows += b->n_rows;
	a->sum_w += b->sum_w;
	a->sum_loglik += b->sum_loglik;
	a->sum_entropy += b->sum_entropy;
	/* s0, s1, s2 are contiguous after the shift */
	for (size_t i = 0; i < m; i++)
		a->s0[i] += b->s0[i];
}

/*
 * Scatter of component j about its new mean from the shifted sums:
 * sum w r (x - mu)(x - mu)^T = S2 - s1 s1^T (2 nk - s0) / nk^2 when
 * mu = shift + s1 / nk, which is scikit-learn's (X - means) with means
 * divided by nk (mass plus 10 eps), not by s0.
 */
static inline double
scatter_factor(double s0, double nk)
{
	return (2.0 * nk - s0) / (nk * nk);
}

/*
 * scikit-learn's M-step in shifted form.  An empty component (s0 == 0, no
 * responsibility at all) needs no special case: s1 and S2 are zero, so it
 * keeps its previous mean (the shift; tied: the global shift), gets
 * covariance reg_covar * I and the weight of a mass of 10 eps.  With
 * reg_covar 0 that is GMM_ERR_NOT_PD naming the component.
 */
void
gmm_stats_mstep_params(const GmmStats *s, double reg_covar, GmmParams *out)
{
	int			k = s->k;
	int			d = s->d;
	double		sum_nk = 0.0;

	for (int j = 0; j < k; j++)
		sum_nk += s->s0[j] + NK_EPS;

	for (int j = 0; j < k; j++)
	{
		double		nk = s->s0[j] + NK_EPS;
		double		f = scatter_factor(s->s0[j], nk);
		const double *sh = s->shift +
			(s->cov_type == GMM_COV_TIED ? 0 : (size_t) j * d);
		const double *s1 = s->s1 + (size_t) j * d;

		out->weights[j] = nk / sum_nk;
		for (int t = 0; t < d; t++)
			out->means[(size_t) j * d + t] = sh[t] + s1[t] / nk;

		switch (s->cov_type)
		{
			case GMM_COV_FULL:
				{
					const double *S2 = s->s2 + (size_t) j * d * d;
					double	   *cov = out->covariances + (size_t) j * d * d;

					for (int a = 0; a < d; a++)
						for (int b = 0; b <= a; b++)
							cov[(size_t) a * d + b] =
								(S2[(size_t) a * d + b] - s1[a] * s1[b] * f) / nk;
					gmm_symmetrise(cov, d, true);
					for (int a = 0; a < d; a++)
						cov[(size_t) a * d + a] += reg_covar;
				}
				break;
			case GMM_COV_TIED:
				/* accumulated below, over all components */
				break;
			case GMM_COV_DIAG:
			case GMM_COV_SPHERICAL:
				{
					const double *s2 = s->s2 + (size_t) j * d;
					double		acc = 0.0;

					for (int t = 0; t < d; t++)
					{
						double		v = (s2[t] - s1[t] * s1[t] * f) / nk + reg_covar;

						if (s->cov_type == GMM_COV_DIAG)
							out->covariances[(size_t) j * d + t] = v;
						acc += v;
					}
					if (s->cov_type == GMM_COV_SPHERICAL)
						out->covariances[j] = acc / d;
				}
				break;
		}
	}

	if (s->cov_type == GMM_COV_TIED)
	{
		/* scikit-learn: total scatter minus the between-means part, / sum nk */
		double	   *cov = out->covariances;

		for (int a = 0; a < d; a++)
			for (int b = 0; b <= a; b++)
			{
				double		v = s->s2[(size_t) a * d + b];

				for (int j = 0; j < k; j++)
				{
					double		nk = s->s0[j] + NK_EPS;

					v -= s->s1[(size_t) j * d + a] * s->s1[(size_t) j * d + b] *
						scatter_factor(s->s0[j], nk);
				}
				cov[(size_t) a * d + b] = v / sum_nk;
			}
		gmm_symmetrise(cov, d, true);
		for (int a = 0; a < d; a++)
			cov[(size_t) a * d + a] += reg_covar;
	}
}

GmmStatus
gmm_stats_mstep(const GmmStats *s, double reg_covar, GmmParams *out, int *bad)
{
	gmm_stats_mstep_params(s, reg_covar, out);
	return gmm_compute_precision_cholesky(out, bad);
}

/* ---------------------------------------------------------------------
 * Fitting
 * ---------------------------------------------------------------------
 */

void
gmm_fit_options_default(GmmFitOptions *opt, int n_components)
{
	memset(opt, 0, sizeof(*opt));
	opt->n_components = n_components;
	opt->cov_type = GMM_COV_FULL;
	opt->max_iter = 100;
	opt->tol = 1e-3;
	opt->reg_covar = 1e-6;
	opt->random_state = 0;
	opt->init_params = GMM_INIT_KMEANS;
	opt->n_init = 1;
	opt->warm_lower_bound = -INFINITY;
	opt->fit_workers = 1;
}

static void
report(const GmmFitOptions *opt, GmmProgressKind kind, int init, int iter,
	   double lb, double change, bool converged)
{
	GmmProgress ev;

	if (opt->progress == NULL)
		return;
	ev.kind = kind;
	ev.init = init;
	ev.iter = iter;
	ev.lower_bound = lb;
	ev.change = change;
	ev.converged = converged;
	opt->progress(&ev, opt->progress_arg);
}

/* Everything one fit allocates, once, before any iteration. */
typedef struct FitCtx
{
	const double *X;
	const double *w;
	size_t		n;
	int			d;
	int			k;
	const GmmFitOptions *opt;
	const GmmHooks *hooks;
	GmmStats	st;
	BlockWork	bw;
	GmmParams	cur;			/* the run in progress */
	GmmParams	best;			/* the run kept so far */
	GmmParams	prev;			/* cur before an M-step that needs the
								 * centred fallback */
	bool	   *cancelled;		/* k flags of gmm_stats_cancelled */
	int		   *labels;			/* k-means labels (kmeans init only) */
	double	   *centers;		/* k-means centres, k x d */
	size_t	   *rows;			/* k row numbers (one-hot inits), k ranks */
	GmmEstepPool *pool;			/* the E-step's threads (fit_workers) */
	GmmMt	   *mt;				/* rng 'sklearn': the one stream of every
								 * run; NULL: xoshiro256** per run */
	size_t	   *perm;			/* rng 'sklearn', random_from_data: n */
	int64_t		n_pos;			/* rows of positive weight */
} FitCtx;

/*
 * The M-step from the statistics in ctx->st into p: EM's, or the
 * variational one on top of EM's estimate.
 */
static GmmStatus
stats_mstep(FitCtx *ctx, GmmParams *p, int *bad)
{
	const GmmVariational *var = ctx->opt->variational;

	if (var == NULL)
		return gmm_stats_mstep(&ctx->st, ctx->opt->reg_covar, p, bad);
	gmm_stats_mstep_params(&ctx->st, ctx->opt->reg_covar, p);
	return var->mstep(var->arg, &ctx->st, p, bad);
}

/* Where the responsibilities of an initialisation come from. */
typedef enum RespSource
{
	RESP_LABELS,				/* one-hot on ctx->labels */
	RESP_RANDOM,				/* uniform per row, normalised */
	RESP_ROWS					/* one-hot on the k rows ctx->rows only */
} RespSource;

/* copy every array of src into dst (same type and shape, any layout) */
void
gmm_params_copy(GmmParams *dst, const GmmParams *src)
{
	size_t		c = gmm_cov_size(src->cov_type, src->k, src->d);

	memcpy(dst->weights, src->weights, sizeof(double) * src->k);
	memcpy(dst->means, src->means, sizeof(double) * src->k * src->d);
	memcpy(dst->covariances, src->covariances, sizeof(double) * c);
	memcpy(dst->prec_chol, src->prec_chol, sizeof(double) * c);
	memcpy(dst->log_det, src->log_det, sizeof(double) * src->k);
}

/*
 * One pass of initial statistics from a source of responsibilities.  Random
 * responsibilities are regenerated from a copy of the generator, so both
 * passes see the same values without an n x k matrix; the one-hot rows are
 * gathered into a block, each with weight 1 (a chosen row stands for one
 * copy of itself, as for repeated rows).
 */
static void
init_pass(FitCtx *ctx, RespSource src, const GmmRng *rng0, bool want_s2)
{
	int			k = ctx->k;
	int			d = ctx->d;
	BlockWork  *bw = &ctx->bw;
	GmmRng		rng = *rng0;

	int			ld = bw->B;
	GmmMt		mt;

	if (ctx->mt)
		mt = *ctx->mt;
	block_centre(&ctx->st, bw);
	if (src == RESP_ROWS)
	{
		/* gathered rows go row-major into H, which the statistics do not use */
		for (int j0 = 0; j0 < k; j0 += ld)
		{
			int			B = k - j0 < ld ? k - j0 : ld;

			memset(bw->lp, 0, sizeof(double) * ld * k);
			for (int i = 0; i < B; i++)
			{
				memcpy(bw->H + (size_t) i * d, ctx->X + ctx->rows[j0 + i] * d,
					   sizeof(double) * d);
				bw->lp[(size_t) (j0 + i) * ld + i] = 1.0;
			}
			block_transpose(bw->H, B, d, bw);
			stats_add_block(&ctx->st, NULL, B, bw->lp, want_s2, bw);
		}
		return;
	}
	for (size_t i0 = 0; i0 < ctx->n; i0 += ld)
	{
		int			B = (int) (ctx->n - i0 < (size_t) ld ? ctx->n - i0 : (size_t) ld);
		const double *Xb = ctx->X + i0 * d;

		ctx->hooks->check_interrupts(ctx->hooks->arg);
		if (src == RESP_LABELS)
		{
			memset(bw->lp, 0, sizeof(double) * ld * k);
			for (int i = 0; i < B; i++)
				bw->lp[(size_t) ctx->labels[i0 + i] * ld + i] = 1.0;
		}
		else if (ctx->mt)
			/* random_state.uniform(size=(n, k)), row by row */
			for (int i = 0; i < B; i++)
			{
				double		sum = 0.0;

				for (int j = 0; j < k; j++)
					sum += (bw->lp[(size_t) j * ld + i] = gmm_mt_random_sample(&mt));
				for (int j = 0; j < k; j++)
					bw->lp[(size_t) j * ld + i] /= sum;
			}
		else
			for (int i = 0; i < B; i++)
			{
				double		sum = 0.0;

				for (int j = 0; j < k; j++)
					sum += (bw->lp[(size_t) j * ld + i] = gmm_rng_uniform(&rng));
				for (int j = 0; j < k; j++)
					bw->lp[(size_t) j * ld + i] /= sum;
			}
		block_transpose(Xb, B, d, bw);
		stats_add_block(&ctx->st, ctx->w ? ctx->w + i0 : NULL, B, bw->lp,
						want_s2, bw);
	}
	/* the second pass redrew the first's values: now they are used up */
	if (ctx->mt && src == RESP_RANDOM && want_s2)
		*ctx->mt = mt;
}

/*
 * scikit-learn's _estimate_gaussian_parameters from initial
 * responsibilities, in two passes so the scatter is centred: first the
 * means (unshifted sums), then the statistics shifted by those means and
 * the M-step.
 */
static GmmStatus
init_from_resp(FitCtx *ctx, RespSource src, const GmmRng *rng, int *bad)
{
	GmmParams  *p = &ctx->cur;
	int			k = ctx->k;
	int			d = ctx->d;
	double		sum_nk = 0.0;

	stats_zero(&ctx->st);
	memset(ctx->st.shift, 0, sizeof(double) *
		   stats_shift_size(ctx->st.cov_type, k, d));
	init_pass(ctx, src, rng, false);
	for (int j = 0; j < k; j++)
		sum_nk += ctx->st.s0[j] + NK_EPS;
	for (int j = 0; j < k; j++)
	{
		double		nk = ctx->st.s0[j] + NK_EPS;

		p->weights[j] = nk / sum_nk;
		for (int t = 0; t < d; t++)
			p->means[(size_t) j * d + t] = ctx->st.s1[(size_t) j * d + t] / nk;
	}
	gmm_stats_reset(&ctx->st, p);
	init_pass(ctx, src, rng, true);
	return stats_mstep(ctx, p, bad);
}

/*
 * scikit-learn's tied covariance of initial responsibilities,
 * _estimate_gaussian_covariances_tied: (X^T X - sum_j nk_j m_j m_j^T) /
 * sum nk, with X^T X over every row whatever its responsibilities.  For the
 * one-hot inits on k rows (k-means++, random_from_data) that is not the
 * scatter of those rows (what init_from_resp computes) but the data's whole
 * second moment around the k rows: rng 'sklearn' takes it, as it must give
 * scikit-learn's fit.  Uses the s0 of init_from_resp's last pass.
 */
static GmmStatus
sklearn_tied_rows(FitCtx *ctx, int *bad)
{
	GmmParams  *p = &ctx->cur;
	int			k = ctx->k;
	int			d = ctx->d;
	double	   *cov = p->covariances;
	double		sum_nk = 0.0;

	memset(cov, 0, sizeof(double) * d * d);
	for (size_t i = 0; i < ctx->n; i++)
	{
		const double *x = ctx->X + i * d;
		double		wi = gmm_row_weight(ctx->w, i);

		if (i % GMM_BLOCK_ROWS == 0)
			ctx->hooks->check_interrupts(ctx->hooks->arg);
		for (int a = 0; a < d; a++)
			for (int b = 0; b < d; b++)
				cov[(size_t) a * d + b] += wi * x[a] * x[b];
	}
	for (int j = 0; j < k; j++)
	{
		double		nk = ctx->st.s0[j] + NK_EPS;
		const double *m = p->means + (size_t) j * d;

		sum_nk += nk;
		for (int a = 0; a < d; a++)
			for (int b = 0; b < d; b++)
				cov[(size_t) a * d + b] -= nk * m[a] * m[b];
	}
	for (int a = 0; a < d; a++)
	{
		for (int b = 0; b < d; b++)
			cov[(size_t) a * d + b] /= sum_nk;
		cov[(size_t) a * d + a] += ctx->opt->reg_covar;
	}
	return gmm_compute_precision_cholesky(p, bad);
}

/*
 * scikit-learn's diag (and spherical: its mean over the features) variances
 * of the one-hot inits on k rows, _estimate_gaussian_covariances_diag:
 * (x^2 / nk - 2 m x / nk) + m^2 + reg_covar with m = x / nk, uncentred.  For
 * data far from the origin the difference keeps only the rounding of x^2
 * (about |x|^2 eps next to reg_covar), and that rounding steers the first
 * E-steps: rng 'sklearn' takes it, operation for operation, as it must give
 * scikit-learn's fit (the one-hot sums of one row are exact, so the values
 * are scikit-learn's to the bit).
 */
static GmmStatus
sklearn_diag_rows(FitCtx *ctx, int *bad)
{
	GmmParams  *p = &ctx->cur;
	int			d = ctx->d;
	double	   *var = ctx->centers;	/* d doubles of scratch */
	double		nk = 1.0 + NK_EPS;

	for (int j = 0; j < ctx->k; j++)
	{
		const double *x = ctx->X + ctx->rows[j] * d;

		for (int t = 0; t < d; t++)
		{
			double		m = x[t] / nk;
			double		ax2 = (x[t] * x[t]) / nk;
			double		axm = (m * x[t]) / nk;

			var[t] = ((ax2 - 2.0 * axm) + m * m) + ctx->opt->reg_covar;
		}
		if (p->cov_type == GMM_COV_DIAG)
			memcpy(p->covariances + (size_t) j * d, var, sizeof(double) * d);
		else
			p->covariances[j] = gmm_numpy_sum(var, d) / d;
	}
	return gmm_compute_precision_cholesky(p, bad);
}

/*
 * Turn precisions_init into covariances (Cholesky, then dpotri) and recompute
 * our prec_chol.  scikit-learn factors the precisions directly; the factors
 * differ but give the same quadratic form.  A precision that is not positive
 * definite is GMM_ERR_INIT_NOT_PD naming the component.
 */
static GmmStatus
set_precisions(GmmParams *p, const double *prec, int *bad)
{
	int			k = p->k;
	int			d = p->d;
	GmmStatus	st;

	switch (p->cov_type)
	{
		case GMM_COV_FULL:
		case GMM_COV_TIED:
			{
				int			nb = p->cov_type == GMM_COV_FULL ? k : 1;

				memcpy(p->covariances, prec, sizeof(double) * nb * d * d);
				for (int j = 0; j < nb; j++)
				{
					double	   *a = p->covariances + (size_t) j * d * d;
					int			info = 0;

					dpotrf_("L", &d, a, &d, &info, 1);
					if (info == 0)
						dpotri_("L", &d, a, &d, &info, 1);
					if (info != 0)
					{
						*bad = j;
						return GMM_ERR_INIT_NOT_PD;
					}
					/* column-major lower = row-major upper */
					gmm_symmetrise(a, d, false);
				}
			}
			break;
		case GMM_COV_DIAG:
		case GMM_COV_SPHERICAL:
			{
				size_t		c = gmm_cov_size(p->cov_type, k, d);

				for (size_t i = 0; i < c; i++)
				{
					if (!(prec[i] > 0.0))
					{
						*bad = (int) (p->cov_type == GMM_COV_DIAG ? i / d : i);
						return GMM_ERR_INIT_NOT_PD;
					}
					p->covariances[i] = 1.0 / prec[i];
				}
			}
			break;
	}
	st = gmm_compute_precision_cholesky(p, bad);
	return st == GMM_OK ? GMM_OK : GMM_ERR_INIT_NOT_PD;
}

/*
 * k distinct rows of positive weight, uniformly: Floyd's sampling of k ranks
 * among those rows (into rows[k..2k)), then one pass mapping ranks to row
 * numbers, component j taking the j-th drawn rank.
 */
static void
random_rows(FitCtx *ctx, int64_t n_pos, GmmRng *rng)
{
	int			k = ctx->k;
	size_t	   *rank = ctx->rows + k;
	size_t		seen_rank = 0;

	for (int64_t m = n_pos - k, c = 0; m < n_pos; m++, c++)
	{
		size_t		t = (size_t) (gmm_rng_uniform(rng) * (double) (m + 1));
		bool		seen = false;

		if (t > (size_t) m)
			t = (size_t) m;
		for (int64_t q = 0; q < c; q++)
			seen |= (rank[q] == t);
		rank[c] = seen ? (size_t) m : t;
	}
	for (size_t i = 0; i < ctx->n; i++)
	{
		if (!(gmm_row_weight(ctx->w, i) > 0.0))
			continue;
		for (int j = 0; j < k; j++)
			if (rank[j] == seen_rank)
				ctx->rows[j] = i;
		seen_rank++;
	}
}

/*
 * Initial parameters of one run into ctx->cur (scikit-learn's
 * _initialize_parameters then _initialize): responsibilities from the
 * chosen method, an M-step, then the given weights/means/precisions
 * override the estimate.  With all three given nothing is estimated.
 */
static GmmStatus
init_run(FitCtx *ctx, GmmRng *rng, int64_t n_pos, int *bad)
{
	const GmmFitOptions *opt = ctx->opt;
	GmmParams  *p = &ctx->cur;
	bool		all_given = opt->weights_init && opt->means_init &&
		opt->precisions_init;
	GmmStatus	st = GMM_OK;

	if (!all_given && ctx->mt)
	{
		/* scikit-learn's _initialize_parameters, its draws from ctx->mt */
		switch (opt->init_params)
		{
			case GMM_INIT_KMEANS:
				st = gmm_kmeans_sklearn(ctx->X, ctx->w, ctx->n, ctx->d, ctx->k,
										ctx->mt, ctx->hooks, ctx->labels,
										ctx->centers);
				if (st == GMM_OK)
					st = init_from_resp(ctx, RESP_LABELS, rng, bad);
				break;
			case GMM_INIT_KMEANSPP:
				/* the public kmeans_plusplus: rows not centred */
				memset(ctx->centers, 0, sizeof(double) * ctx->d);
				st = gmm_kmeans_plusplus_sklearn(ctx->X, ctx->n, ctx->d, ctx->k,
												 ctx->centers, ctx->mt,
												 ctx->hooks, ctx->rows);
				if (st == GMM_OK)
					st = init_from_resp(ctx, RESP_ROWS, rng, bad);
				break;
			case GMM_INIT_RANDOM:
				st = init_from_resp(ctx, RESP_RANDOM, rng, bad);
				break;
			case GMM_INIT_RANDOM_FROM_DATA:
				gmm_mt_choice(ctx->mt, ctx->n, (size_t) ctx->k, ctx->rows,
							  ctx->perm);
				st = init_from_resp(ctx, RESP_ROWS, rng, bad);
				break;
		}
		if (st == GMM_OK && ctx->st.cov_type == GMM_COV_TIED &&
			(opt->init_params == GMM_INIT_KMEANSPP ||
			 opt->init_params == GMM_INIT_RANDOM_FROM_DATA))
			st = sklearn_tied_rows(ctx, bad);
		if (st == GMM_OK && (ctx->st.cov_type == GMM_COV_DIAG ||
							 ctx->st.cov_type == GMM_COV_SPHERICAL) &&
			(opt->init_params == GMM_INIT_KMEANSPP ||
			 opt->init_params == GMM_INIT_RANDOM_FROM_DATA))
			st = sklearn_diag_rows(ctx, bad);
		if (st != GMM_OK)
			return st;
	}
	else if (!all_given)
	{
		switch (opt->init_params)
		{
			case GMM_INIT_KMEANS:
				st = gmm_kmeans(ctx->X, ctx->w, ctx->n, ctx->d, ctx->k,
								gmm_rng_next(rng), ctx->hooks, ctx->labels,
								ctx->centers);
				if (st == GMM_OK)
					st = init_from_resp(ctx, RESP_LABELS, rng, bad);
				break;
			case GMM_INIT_KMEANSPP:
				st = gmm_kmeans_plusplus(ctx->X, ctx->w, ctx->n, ctx->d, ctx->k,
										 rng, ctx->hooks, ctx->rows);
				if (st == GMM_OK)
					st = init_from_resp(ctx, RESP_ROWS, rng, bad);
				break;
			case GMM_INIT_RANDOM:
				st = init_from_resp(ctx, RESP_RANDOM, rng, bad);
				break;
			case GMM_INIT_RANDOM_FROM_DATA:
				random_rows(ctx, n_pos, rng);
				st = init_from_resp(ctx, RESP_ROWS, rng, bad);
				break;
		}
		if (st != GMM_OK)
			return st;
	}
	if (opt->weights_init)
		memcpy(p->weights, opt->weights_init, sizeof(double) * ctx->k);
	if (opt->means_init)
		memcpy(p->means, opt->means_init, sizeof(double) * ctx->k * ctx->d);
	if (opt->precisions_init)
		st = set_precisions(p, opt->precisions_init, bad);
	return st;
}

/* Mean log-likelihood of the rows under p (the E-step), statistics in st. */
static double
estep_pass(FitCtx *ctx, const GmmParams *p)
{
	const GmmVariational *var = ctx->opt->variational;

	gmm_stats_reset(&ctx->st, p);
	ctx->st.log_weights = var ? var->log_weights(var->arg) : NULL;
	ctx->st.want_entropy = var != NULL;
	gmm_stats_accumulate_parallel(&ctx->st, p, ctx->X, ctx->w, ctx->n,
								  ctx->pool, ctx->hooks);
	return ctx->st.sum_loglik / ctx->st.sum_w;
}

/*
 * The M-step of the statistics in ctx->st into ctx->cur, with the centred
 * fallback (mstep_centred.c) for the components whose shifted scatter
 * cancelled: cur is kept in ctx->prev for the extra pass's E-step.
 */
static GmmStatus
mstep(FitCtx *ctx, int *bad)
{
	const GmmVariational *var = ctx->opt->variational;
	GmmStatus	st;

	if (gmm_stats_cancelled(&ctx->st, ctx->cancelled) == 0)
		return stats_mstep(ctx, &ctx->cur, bad);
	gmm_params_copy(&ctx->prev, &ctx->cur);
	gmm_stats_mstep_params(&ctx->st, ctx->opt->reg_covar, &ctx->cur);
	st = gmm_mstep_centred(&ctx->prev, ctx->X, ctx->w, ctx->n, &ctx->st,
						   ctx->cancelled, ctx->opt->reg_covar, ctx->hooks,
						   &ctx->cur, bad);
	/* variational: sk may be singular, the prior makes the model regular */
	return var ? var->mstep(var->arg, &ctx->st, &ctx->cur, bad) : st;
}

/*
 * EM from cur (scikit-learn's loop in fit_predict): the lower bound of
 * iteration i is the mean log-likelihood of the E-step, i.e. of the
 * parameters before that iteration's M-step.
 */
static GmmStatus
em_run(const GmmEmOps *ops, const GmmFitOptions *opt, const GmmHooks *hooks,
	   GmmParams *cur, int run, double *lower_bound, int *n_iter,
	   bool *converged, int *bad)
{
	/* a warm start continues the previous fit's convergence test */
	double		lb = opt->warm_start && isfinite(opt->warm_lower_bound) ?
		opt->warm_lower_bound : -INFINITY;

	*n_iter = 0;
	*converged = false;
	for (int it = 1; it <= opt->max_iter; it++)
	{
		double		prev = lb;
		GmmStatus	st;

		hooks->check_interrupts(hooks->arg);
		st = ops->estep(ops->arg, cur, &lb, bad);
		if (st == GMM_OK)
			st = ops->mstep(ops->arg, cur, &lb, bad);
		if (st != GMM_OK)
			return st;
		*n_iter = it;
		report(opt, GMM_PROGRESS_ITER_END, run, it, lb, lb - prev, false);
		if (fabs(lb - prev) < opt->tol)
		{
			*converged = true;
			break;
		}
	}
	*lower_bound = lb;
	report(opt, GMM_PROGRESS_INIT_END, run, *n_iter, lb, 0.0, *converged);
	return GMM_OK;
}

GmmStatus
gmm_em_loop(const GmmEmOps *ops, const GmmFitOptions *opt,
			const GmmHooks *hooks, GmmParams *cur, GmmParams *best,
			GmmFitResult *res, double *best_lb, int *bad)
{
	int			n_init = opt->n_init;
	GmmStatus	st = GMM_OK;

	*best_lb = -INFINITY;

	/*
	 * A warm start, or all three initial parameters, leaves nothing random:
	 * the n_init runs would be identical, so run once.
	 */
	if (opt->warm_start ||
		(opt->weights_init && opt->means_init && opt->precisions_init))
		n_init = 1;

	for (int run = 0; run < n_init && st == GMM_OK; run++)
	{
		double		lb = -INFINITY;
		int			n_iter;
		bool		conv;

		report(opt, GMM_PROGRESS_INIT_BEGIN, run, 0, 0.0, 0.0, false);
		if (opt->warm_start)
		{
			gmm_params_copy(cur, opt->warm_start);
			st = gmm_compute_precision_cholesky(cur, bad);
		}
		else
			st = ops->init(ops->arg, run, cur, bad);
		if (st == GMM_OK)
			st = em_run(ops, opt, hooks, cur, run, &lb, &n_iter, &conv, bad);
		if (st != GMM_OK)
			break;

		/* scikit-learn keeps the first run with the highest lower bound */
		if (opt->max_iter == 0 || lb > *best_lb || *best_lb == -INFINITY)
		{
			*best_lb = lb;
			gmm_params_copy(best, cur);
			if (ops->keep)
				ops->keep(ops->arg);
			res->n_iter = n_iter;
			res->converged = conv;
			res->best_init = run;
		}
	}
	return st;
}

/* gmm_em_loop's steps for complete rows (ctx: a FitCtx) */
static GmmStatus
fit_init(void *arg, int run, GmmParams *cur, int *bad)
{
	FitCtx	   *ctx = arg;
	GmmRng		rng;

	(void) cur;					/* init_run fills ctx->cur, which it is */
	gmm_rng_seed(&rng, ctx->opt->random_state,
				 (uint64_t) ctx->opt->first_init + (uint64_t) run);
	return init_run(ctx, &rng, ctx->n_pos, bad);
}

static GmmStatus
fit_estep(void *arg, const GmmParams *p, double *lb, int *bad)
{
	(void) bad;
	*lb = estep_pass(arg, p);
	return GMM_OK;
}

static GmmStatus
fit_mstep(void *arg, GmmParams *cur, double *lb, int *bad)
{
	FitCtx	   *ctx = arg;
	const GmmVariational *var = ctx->opt->variational;
	GmmStatus	st;

	(void) cur;					/* mstep updates ctx->cur, which it is */
	st = mstep(ctx, bad);
	if (st == GMM_OK && var)
		*lb = var->lower_bound(var->arg, &ctx->st, &ctx->cur);
	return st;
}

static void
fit_keep(void *arg)
{
	FitCtx	   *ctx = arg;

	if (ctx->opt->variational)
		ctx->opt->variational->keep(ctx->opt->variational->arg);
}

GmmStatus
gmm_fit(const double *X, const double *w, size_t n, int d,
		const GmmFitOptions *opt, const GmmHooks *hooks, GmmParams *out,
		GmmFitResult *res)
{
	int			k = opt->n_components;
	GmmCovType	t = opt->cov_type;
	size_t		np = gmm_params_ndoubles(t, k, d);
	int64_t		n_pos;
	double		sum_w;
	double	   *buf;
	double		best_lb;
	int			bad = -1;
	FitCtx		ctx;
	GmmEmOps	ops;
	GmmStatus	st;

	/* rows with missing values: EM under missing at random (em_missing.c) */
	if (gmm_rows_have_nan(X, n, d))
		return gmm_fit_missing(X, w, n, d, opt, hooks, out, res);

	memset(res, 0, sizeof(*res));
	res->bad_component = -1;
	res->lower_bound = -INFINITY;
	st = gmm_check_weights(w, n, k, &n_pos, &sum_w);
	res->n_samples = n_pos;
	res->sum_weights = sum_w;
	if (st != GMM_OK)
		return st;

	memset(&ctx, 0, sizeof(ctx));
	ctx.X = X;
	ctx.w = w;
	ctx.n = n;
	ctx.d = d;
	ctx.k = k;
	ctx.n_pos = n_pos;
	ctx.opt = opt;
	ctx.hooks = hooks;
	buf = hooks->alloc(sizeof(double) * (gmm_stats_ndoubles(t, k, d) +
										 gmm_stats_work_ndoubles(t, k, d) +
										 3 * np + (size_t) k * d), hooks->arg);
	gmm_stats_bind(&ctx.st, t, k, d, buf);
	block_work_bind(&ctx.bw, t, k, d, buf + gmm_stats_ndoubles(t, k, d));
	gmm_params_bind(&ctx.cur, t, k, d,
					ctx.bw.logw + gmm_stats_work_ndoubles(t, k, d));
	gmm_params_bind(&ctx.best, t, k, d, ctx.cur.weights + np);
	gmm_params_bind(&ctx.prev, t, k, d, ctx.best.weights + np);
	ctx.centers = ctx.prev.weights + np;
	ctx.cancelled = hooks->alloc(sizeof(bool) * k, hooks->arg);
	ctx.rows = hooks->alloc(sizeof(size_t) * 2 * k, hooks->arg);
	ctx.pool = gmm_estep_pool_create(t, k, d, opt->fit_workers, opt->chunk_rows,
									 hooks);
	if (opt->init_params == GMM_INIT_KMEANS)
		ctx.labels = hooks->alloc(sizeof(int) * (n > 0 ? n : 1), hooks->arg);
	if (opt->rng == GMM_RNG_KIND_SKLEARN)
	{
		/* RandomState(random_state), drawn on by every run in turn */
		ctx.mt = hooks->alloc(sizeof(GmmMt), hooks->arg);
		gmm_mt_seed(ctx.mt, (uint32_t) opt->random_state);
		if (opt->init_params == GMM_INIT_RANDOM_FROM_DATA)
			ctx.perm = hooks->alloc(sizeof(size_t) * (n > 0 ? n : 1),
									hooks->arg);
	}

	ops.arg = &ctx;
	ops.init = fit_init;
	ops.estep = fit_estep;
	ops.mstep = fit_mstep;
	ops.keep = fit_keep;
	st = gmm_em_loop(&ops, opt, hooks, &ctx.cur, &ctx.best, res, &best_lb, &bad);

	if (st == GMM_OK)
	{
		gmm_params_copy(out, &ctx.best);
		if (opt->variational)
			opt->variational->restore(opt->variational->arg);
		res->lower_bound = best_lb;
		ctx.st.sketch = opt->sketch;
		if (opt->sketch)
			gmm_sketch_init_model(opt->sketch, out);
		res->log_likelihood = estep_pass(&ctx, out);
	}
	else
		res->bad_component = bad;

	if (ctx.labels)
		hooks->release(ctx.labels, hooks->arg);
	if (ctx.perm)
		hooks->release(ctx.perm, hooks->arg);
	if (ctx.mt)
		hooks->release(ctx.mt, hooks->arg);
	hooks->release(ctx.cancelled, hooks->arg);
	hooks->release(ctx.rows, hooks->arg);
	gmm_estep_pool_release(ctx.pool, hooks);
	hooks->release(buf, hooks->arg);
	return st;
}
