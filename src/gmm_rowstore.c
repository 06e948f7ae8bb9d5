/*
 * gmm_rowstore.c
 *	  The packed rows of a fitting aggregate: in memory while they fit in
 *	  work_mem, then spilled to temporary files.
 *
 * A fit's EM passes read every row many times, and k-means++ reads rows by
 * position, so the numerical core wants the rows as one contiguous N x D
 * array.  While the rows take no more than work_mem they live in a palloc'd
 * buffer.  Past that, as PostgreSQL's hash aggregation does, they go to a
 * temporary file (and the weights to another), written through a small
 * staging buffer; the final function then maps the files read-only, so the
 * core still sees one array while the rows live in the kernel's page cache,
 * which can evict and re-read them, instead of the backend's memory.
 *
 * The files are PostgreSQL temporary files (OpenTemporaryFile): they count
 * against temp_file_limit, show in pg_ls_tmpdir() and are deleted when the
 * aggregate's memory goes away (the end of its group or query) or, after an
 * error or a cancel, by the resource owner at the end of the transaction.  A
 * mapping is undone when the aggregate's memory goes away, on every path, so
 * a deleted file's space is never held by a forgotten mapping.
 */
#include "postgres.h"

#include <sys/mman.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "gmm.h"

#define STAGE_BYTES		(1024 * 1024)

/* One spilled array: a temporary file, its staging buffer and its mapping. */
typedef struct SpillFile
{
	File		file;
	off_t		written;		/* bytes in the file */
	char	   *stage;			/* STAGE_BYTES, not yet written */
	Size		staged;
	void	   *map;			/* read-only mapping of the file, or NULL */
	Size		map_len;
} SpillFile;

struct GmmRowStore
{
	int			d;
	bool		weighted;
	int64		n;				/* rows */
	Size		limit;			/* bytes kept in memory before spilling */
	MemoryContext mcxt;			/* the aggregate's context */
	/* in memory */
	double	   *X;
	double	   *w;
	int64		cap;
	/* spilled */
	bool		spilled;
	SpillFile	xs;
	SpillFile	ws;
};

/* write out the staging buffer */
static void
SpillFlush(SpillFile *s)
{
	if (s->staged > 0)
	{
		int			rc = FileWrite(s->file, s->stage, (int) s->staged,
								   s->written, 0);

		if (rc != (int) s->staged)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write to the temporary file of a gmm fit: %m")));
		s->written += s->staged;
		s->staged = 0;
	}
}

/* append len bytes through the staging buffer */
static void
SpillWrite(SpillFile *s, const char *data, Size len)
{
	while (len > 0)
	{
		Size		chunk = Min(len, STAGE_BYTES - s->staged);

		memcpy(s->stage + s->staged, data, chunk);
		s->staged += chunk;
		data += chunk;
		len -= chunk;
		if (s->staged == STAGE_BYTES)
			SpillFlush(s);
	}
}

static void
SpillUnmap(SpillFile *s)
{
	if (s->map != NULL)
	{
		munmap(s->map, s->map_len);
		s->map = NULL;
		s->map_len = 0;
	}
}

/* the whole file, mapped read-only (remapped when it has grown) */
static const double *
SpillMap(SpillFile *s)
{
	int			fd;

	SpillFlush(s);
	if (s->map != NULL && s->map_len == (Size) s->written)
		return (const double *) s->map;
	SpillUnmap(s);
	/* FileSize reopens the virtual file if fd.c closed its descriptor */
	if (FileSize(s->file) < s->written)
		elog(ERROR, "gmm: temporary file is shorter than what was written");
	fd = FileGetRawDesc(s->file);
	s->map = mmap(NULL, s->written, PROT_READ, MAP_SHARED, fd, 0);
	if (s->map == MAP_FAILED)
	{
		s->map = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not map the temporary file of a gmm fit: %m")));
	}
	s->map_len = s->written;
	return (const double *) s->map;
}

/*
 * When the aggregate's memory goes away (the group ends, the query ends, or
 * an error unwinds it): undo the mappings, so that no deleted file's space is
 * held, and close -- so delete -- the files now.  After an error the
 * transaction is no longer in progress and the resource owner has closed, or
 * will close, the files itself: closing them here too would close a freed
 * virtual file descriptor.
 */
static void
RowStoreReleaseCallback(void *arg)
{
	GmmRowStore *rs = (GmmRowStore *) arg;

	SpillUnmap(&rs->xs);
	SpillUnmap(&rs->ws);
	if (rs->spilled && IsTransactionState())
	{
		FileClose(rs->xs.file);
		if (rs->weighted)
			FileClose(rs->ws.file);
	}
	rs->spilled = false;
}

GmmRowStore *
gmm_rowstore_create(MemoryContext aggctx, int d, bool weighted)
{
	GmmRowStore *rs = MemoryContextAllocZero(aggctx, sizeof(GmmRowStore));
	MemoryContextCallback *cb;

	rs->d = d;
	rs->weighted = weighted;
	rs->mcxt = aggctx;
	rs->limit = (Size) work_mem * 1024;
	cb = MemoryContextAlloc(aggctx, sizeof(MemoryContextCallback));
	cb->func = RowStoreReleaseCallback;
	cb->arg = rs;
	MemoryContextRegisterResetCallback(aggctx, cb);
	return rs;
}

/* move the rows so far to temporary files; later rows go there too */
static void
RowStoreSpill(GmmRowStore *rs)
{
	MemoryContext old = MemoryContextSwitchTo(rs->mcxt);

	rs->xs.file = OpenTemporaryFile(false);
	rs->xs.stage = palloc(STAGE_BYTES);
	if (rs->weighted)
	{
		rs->ws.file = OpenTemporaryFile(false);
		rs->ws.stage = palloc(STAGE_BYTES);
	}
	MemoryContextSwitchTo(old);
	rs->spilled = true;
	SpillWrite(&rs->xs, (const char *) rs->X, sizeof(double) * rs->d * rs->n);
	if (rs->weighted)
		SpillWrite(&rs->ws, (const char *) rs->w, sizeof(double) * rs->n);
	pfree(rs->X);
	rs->X = NULL;
	if (rs->w)
		pfree(rs->w);
	rs->w = NULL;
	rs->cap = 0;
}

/* grow the in-memory buffers: doubling while small, then by a quarter */
static void
RowStoreGrow(GmmRowStore *rs)
{
	Size		rowbytes = sizeof(double) * (rs->d + (rs->weighted ? 1 : 0));
	int64		newcap;

	if (rs->cap == 0)
		newcap = 16;
	else if ((double) rs->cap * rowbytes < 64.0 * 1024 * 1024)
		newcap = rs->cap * 2;
	else
		newcap = rs->cap + rs->cap / 4;
	if ((double) newcap * rowbytes > (double) MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rows for one fit in memory: " INT64_FORMAT " rows of %d features",
						rs->n, rs->d),
				 errhint("Lower work_mem so that the rows spill to a temporary file.")));
	if (rs->X == NULL)
		rs->X = MemoryContextAllocHuge(rs->mcxt, newcap * sizeof(double) * rs->d);
	else
		rs->X = repalloc_huge(rs->X, newcap * sizeof(double) * rs->d);
	if (rs->weighted)
	{
		if (rs->w == NULL)
			rs->w = MemoryContextAllocHuge(rs->mcxt, newcap * sizeof(double));
		else
			rs->w = repalloc_huge(rs->w, newcap * sizeof(double));
	}
	rs->cap = newcap;
}

void
gmm_rowstore_append(GmmRowStore *rs, const double *x, double w)
{
	if (!rs->spilled && rs->n == rs->cap)
	{
		Size		rowbytes = sizeof(double) * (rs->d + (rs->weighted ? 1 : 0));

		if ((double) (rs->n + 1) * rowbytes > (double) rs->limit && rs->n > 0)
			RowStoreSpill(rs);
		else
			RowStoreGrow(rs);
	}
	if (rs->spilled)
	{
		SpillWrite(&rs->xs, (const char *) x, sizeof(double) * rs->d);
		if (rs->weighted)
			SpillWrite(&rs->ws, (const char *) &w, sizeof(double));
	}
	else
	{
		memcpy(rs->X + rs->n * rs->d, x, sizeof(double) * rs->d);
		if (rs->weighted)
			rs->w[rs->n] = w;
	}
	rs->n++;
}

int64
gmm_rowstore_count(GmmRowStore *rs)
{
	return rs->n;
}

bool
gmm_rowstore_spilled(GmmRowStore *rs)
{
	return rs->spilled;
}

/*
 * All rows as one array (and the weights, NULL when unweighted), valid until
 * the next append.  The store itself is not changed, so a window aggregate's
 * final function may ask again after more rows.
 */
void
gmm_rowstore_view(GmmRowStore *rs, const double **X, const double **w)
{
	if (!rs->spilled)
	{
		*X = rs->X;
		*w = rs->weighted ? rs->w : NULL;
		return;
	}
	*X = SpillMap(&rs->xs);
	*w = rs->weighted ? SpillMap(&rs->ws) : NULL;
}
