/*-------------------------------------------------------------------------
 *
 * vis_share.c
 *	  Sharing a backend's cached U(p) and C(p) with its parallel workers.
 *
 *	  A parallel worker is a fresh process: without help, each would load
 *	  the catalogs and rebuild the principal's sets for every parallel query.
 *	  Instead the leader serializes each large cached entry once into a
 *	  dynamic shared memory segment (the chunked bitmaps and sorted arrays,
 *	  usable in place) and writes the segment's handle into a file of its
 *	  own, pg_stat_tmp/lms_visibility.<leader pid>.<principal>.  A worker
 *	  finds its leader through its lock group, reads the handle, attaches,
 *	  checks the segment's header (magic, leader, principal, not stale) and
 *	  answers its row checks from it.  The file is written by the server
 *	  only: no value a SQL user can set takes part.  A stale entry is freed
 *	  and unpublished by the leader's next cache lookup, which in practice
 *	  comes before its workers start; for the window in between, the
 *	  invalidation callback marks the leader's segments stale (a plain store)
 *	  and a worker that sees the mark builds for itself.
 *
 * IDENTIFICATION
 *	  src/vis_share.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/memutils.h"

#include "lms_visibility.h"

#define VIS_SHARE_MAGIC 0x4c4d5331	/* "LMS1" */
/* entries smaller than this are cheaper to rebuild than to share */
#define VIS_SHARE_MIN_IDS 1000

typedef enum FlatKind
{
	FLAT_EMPTY = 0,
	FLAT_BITMAP = 1,			/* a chunked bitmap */
	FLAT_SORTED = 2				/* sorted ids */
} FlatKind;

typedef struct FlatSet
{
	uint32		kind;			/* a FlatKind */
	uint32		mask;			/* bitmap: slots - 1 */
	uint64		n;				/* sorted: number of ids */
	Size		keys_off;		/* bitmap: int64 keys[slots]; sorted: int64 ids[n] */
	Size		idx_off;		/* bitmap: int32 chunk index per slot, -1: empty */
	Size		words_off;		/* bitmap: the chunks' words */
} FlatSet;

typedef struct FlatGrant
{
	int64		content;
	uint64		ctx_start;		/* allowed context groups, sorted */
	uint64		ctx_n;
} FlatGrant;

typedef struct VisShareHeader
{
	uint32		magic;
	int32		leader_pid;
	int64		principal;
	volatile uint32 stale;
	bool		known;
	bool		sees_all;
	int64		tenant_id;
	FlatSet		users;
	FlatSet		open;			/* unrestricted grants */
	uint64		nrestricted;
	Size		restricted_off; /* FlatGrant[nrestricted], sorted by content */
	Size		ctx_off;		/* int64 context group ids */
	Size		total;
} VisShareHeader;

/* ---------------------------------------------------------------------
 * Serializing (the leader)
 * ---------------------------------------------------------------------
 */

typedef struct Writer
{
	char	   *base;			/* NULL: only measure */
	Size		off;
} Writer;

static Size
put(Writer *w, const void *data, Size len)
{
	Size		at = MAXALIGN(w->off);

	if (w->base && len > 0)
		memcpy(w->base + at, data, len);
	w->off = at + len;
	return at;
}

/* put_set writes a bitmap when there is one, else the sorted ids */
static void
put_set(Writer *w, FlatSet *fs, const VisBitmap *bm, int64 *ids, uint64 n)
{
	memset(fs, 0, sizeof(FlatSet));
	if (bm->slots != NULL)
	{
		uint32		slots = bm->mask + 1;
		int64	   *keys = palloc(sizeof(int64) * slots);
		int32	   *idx = palloc(sizeof(int32) * slots);
		int32		nchunks = 0;
		uint32		i;

		for (i = 0; i < slots; i++)
		{
			keys[i] = bm->slots[i].key;
			idx[i] = bm->slots[i].words ? nchunks++ : -1;
		}
		fs->kind = FLAT_BITMAP;
		fs->mask = bm->mask;
		fs->keys_off = put(w, keys, sizeof(int64) * slots);
		fs->idx_off = put(w, idx, sizeof(int32) * slots);
		/* chunks are 512 bytes: one put each keeps them contiguous */
		fs->words_off = put(w, NULL, 0);
		for (i = 0; i < slots; i++)
			if (bm->slots[i].words)
				put(w, bm->slots[i].words, VIS_CHUNK_WORDS * sizeof(uint64));
		pfree(keys);
		pfree(idx);
	}
	else if (n > 0)
	{
		fs->kind = FLAT_SORTED;
		fs->n = n;
		vis_sort_ids(ids, n);
		fs->keys_off = put(w, ids, n * sizeof(int64));
	}
}

/* serialize writes r into w; with w->base NULL it only measures */
static void
serialize(Writer *w, VisResult *r, VisShareHeader *h)
{
	grantmap_iterator git;
	VisGrant   *g;
	int64	   *uids;
	int64	   *open = palloc(sizeof(int64) * Max(r->grants->members, 1));
	FlatGrant  *restricted = palloc(sizeof(FlatGrant) * Max(r->grants->members, 1));
	VisIdArray	ctx = {0};
	int			nu = 0;
	uint64		no = 0,
				nr = 0,
				i;

	w->off = sizeof(VisShareHeader);
	uids = vis_result_user_ids(r, &nu);
	grantmap_start_iterate(r->grants, &git);
	while ((g = grantmap_iterate(r->grants, &git)) != NULL)
	{
		if (g->unrestricted)
			open[no++] = g->id;
		else
		{
			int			k;
			int			start = ctx.n;

			for (k = 0; k < g->nctx; k++)
			{
				idset_iterator cit;
				VisIdEntry *ce;

				idset_start_iterate(g->ctx[k], &cit);
				while ((ce = idset_iterate(g->ctx[k], &cit)) != NULL)
					vis_idarray_push(&ctx, ce->id);
			}
			vis_sort_ids(ctx.ids + start, ctx.n - start);
			restricted[nr].content = g->id;
			restricted[nr].ctx_start = start;
			restricted[nr].ctx_n = ctx.n - start;
			nr++;
		}
	}
	put_set(w, &h->users, &r->user_bits, uids, nu);
	put_set(w, &h->open, &r->open_bits, open, no);
	/* restricted grants sorted by content: sort an index, keep ctx ranges */
	for (i = 1; i < nr; i++)
	{
		FlatGrant	x = restricted[i];
		uint64		j = i;

		while (j > 0 && restricted[j - 1].content > x.content)
		{
			restricted[j] = restricted[j - 1];
			j--;
		}
		restricted[j] = x;
	}
	h->nrestricted = nr;
	h->restricted_off = put(w, restricted, nr * sizeof(FlatGrant));
	h->ctx_off = put(w, ctx.ids, ctx.n * sizeof(int64));
	h->total = MAXALIGN(w->off);
}

static char *
share_path(int pid, int64 principal)
{
	return psprintf("%s/lms_visibility.%d." INT64_FORMAT, PG_STAT_TMP_DIR, pid, principal);
}

/*
 * sweep_files removes the files of leaders that are gone: a backend that
 * was killed (kill -9, a crash) never ran its exit callback, and the
 * server's restart does not clean pg_stat_tmp.  Once per backend, before
 * it first publishes; its own PID's files are an earlier process's too.
 */
static void
sweep_files(void)
{
	static bool swept = false;
	DIR		   *dir;
	struct dirent *de;

	if (swept)
		return;
	swept = true;
	dir = AllocateDir(PG_STAT_TMP_DIR);
	while ((de = ReadDir(dir, PG_STAT_TMP_DIR)) != NULL)
	{
		int			pid;

		if (sscanf(de->d_name, "lms_visibility.%d.", &pid) != 1)
			continue;
		if (pid != MyProcPid && BackendPidGetProc(pid) != NULL)
			continue;
		unlink(psprintf("%s/%s", PG_STAT_TMP_DIR, de->d_name));
	}
	FreeDir(dir);
}

/*
 * vis_share_create serializes a cached result into a new segment kept
 * mapped for the backend's life, publishes its handle, and returns it; NULL
 * when the result is small or anything fails (the workers then build for
 * themselves).  Whether a later query goes parallel is not known here, so
 * every large entry is shared.
 */
dsm_segment *
vis_share_create(VisResult *r)
{
	Writer		w = {NULL, 0};
	VisShareHeader h;
	dsm_segment *seg;
	char	   *path;
	char	   *tmp;
	FILE	   *f;
	dsm_handle	handle;

	if (IsParallelWorker() || r->nusers + r->grants->members < VIS_SHARE_MIN_IDS)
		return NULL;
	sweep_files();

	memset(&h, 0, sizeof(h));
	serialize(&w, r, &h);
	seg = dsm_create(h.total, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
		return NULL;
	dsm_pin_mapping(seg);
	w.base = dsm_segment_address(seg);
	serialize(&w, r, &h);
	h.magic = VIS_SHARE_MAGIC;
	h.leader_pid = MyProcPid;
	h.principal = r->principal;
	h.stale = 0;
	h.known = r->known;
	h.sees_all = r->sees_all;
	h.tenant_id = r->tenant_id;
	memcpy(w.base, &h, sizeof(h));

	/* publish: write a temporary file and rename it into place */
	handle = dsm_segment_handle(seg);
	path = share_path(MyProcPid, r->principal);
	tmp = psprintf("%s.tmp", path);
	f = AllocateFile(tmp, PG_BINARY_W);
	if (f == NULL || fwrite(&handle, sizeof(handle), 1, f) != 1)
	{
		if (f)
			FreeFile(f);
		dsm_detach(seg);
		return NULL;
	}
	FreeFile(f);
	if (rename(tmp, path) != 0)
	{
		unlink(tmp);
		dsm_detach(seg);
		return NULL;
	}
	return seg;
}

/*
 * vis_share_stale marks a shared entry stale: workers will not use it.
 * Safe in an invalidation callback.
 */
void
vis_share_stale(dsm_segment *seg)
{
	if (seg != NULL)
		((VisShareHeader *) dsm_segment_address(seg))->stale = 1;
}

/*
 * vis_share_drop unpublishes and releases a shared entry.
 */
void
vis_share_drop(dsm_segment *seg, int64 principal)
{
	if (seg == NULL)
		return;
	vis_share_stale(seg);
	unlink(share_path(MyProcPid, principal));
	dsm_detach(seg);
}

/* ---------------------------------------------------------------------
 * Using a shared entry (a parallel worker)
 * ---------------------------------------------------------------------
 */

static bool
flat_has(const char *base, const FlatSet *fs, int64 id)
{
	if (fs->kind == FLAT_BITMAP)
	{
		const int64 *keys = (const int64 *) (base + fs->keys_off);
		const int32 *idx = (const int32 *) (base + fs->idx_off);
		const uint64 *words = (const uint64 *) (base + fs->words_off);
		int64		key = id >> VIS_CHUNK_SHIFT;
		uint32		h = vis_chunk_hash(key) & fs->mask;
		uint32		off = (uint32) (id & ((1 << VIS_CHUNK_SHIFT) - 1));

		for (;;)
		{
			if (idx[h] < 0)
				return false;
			if (keys[h] == key)
				return (words[(Size) idx[h] * VIS_CHUNK_WORDS + (off >> 6)] >> (off & 63)) & 1;
			h = (h + 1) & fs->mask;
		}
	}
	if (fs->kind == FLAT_SORTED)
	{
		const int64 *ids = (const int64 *) (base + fs->keys_off);

		return bsearch(&id, ids, fs->n, sizeof(int64), vis_int64_cmp) != NULL;
	}
	return false;
}

/*
 * vis_flat_has_user and vis_flat_sees answer the row checks from a shared
 * entry, like vis_result_has_user and vis_result_sees.
 */
bool
vis_flat_has_user(const void *flat, int64 user_id)
{
	const VisShareHeader *h = flat;

	return flat_has(flat, &h->users, user_id);
}

bool
vis_flat_sees_all(const void *flat)
{
	return ((const VisShareHeader *) flat)->sees_all;
}

bool
vis_flat_sees(const void *flat, int64 user_id, int64 content_id, bool has_context, int64 context_id)
{
	const VisShareHeader *h = flat;
	const char *base = flat;
	const FlatGrant *grants = (const FlatGrant *) (base + h->restricted_off);
	uint64		lo = 0,
				hi = h->nrestricted;

	if (!flat_has(base, &h->users, user_id))
		return false;
	if (flat_has(base, &h->open, content_id))
		return true;
	if (!has_context)
		return false;
	while (lo < hi)
	{
		uint64		mid = (lo + hi) / 2;

		if (grants[mid].content < content_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= h->nrestricted || grants[lo].content != content_id)
		return false;
	return bsearch(&context_id, (const int64 *) (base + h->ctx_off) + grants[lo].ctx_start,
				   grants[lo].ctx_n, sizeof(int64), vis_int64_cmp) != NULL;
}

/*
 * vis_share_attach returns the leader's shared entry of a principal, or
 * NULL when there is none to trust (then the worker builds its own).
 */
const void *
vis_share_attach(int64 principal)
{
	PGPROC	   *leader = MyProc ? MyProc->lockGroupLeader : NULL;
	char	   *path;
	FILE	   *f;
	dsm_handle	handle;
	dsm_segment *seg;
	const VisShareHeader *h;

	if (!IsParallelWorker() || leader == NULL || leader == MyProc)
		return NULL;
	path = share_path(leader->pid, principal);
	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
		return NULL;
	if (fread(&handle, sizeof(handle), 1, f) != 1)
	{
		FreeFile(f);
		return NULL;
	}
	FreeFile(f);
	seg = dsm_find_mapping(handle);
	if (seg == NULL)
	{
		seg = dsm_attach(handle);
		if (seg == NULL)
			return NULL;
		dsm_pin_mapping(seg);
	}
	h = dsm_segment_address(seg);
	if (dsm_segment_map_length(seg) < sizeof(VisShareHeader) || h->magic != VIS_SHARE_MAGIC ||
		h->leader_pid != leader->pid || h->principal != principal || h->stale ||
		h->total > dsm_segment_map_length(seg))
		return NULL;
	return h;
}
