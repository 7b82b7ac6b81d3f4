/*-------------------------------------------------------------------------
 *
 * vis_share.c
 *	  Sharing a backend's cached U(p) and C(p) with its parallel workers.
 *
 *	  A parallel worker is a fresh process: without help, each would load
 *	  the catalogs and rebuild the principal's sets for every parallel
 *	  query. Instead the leader serializes each large cached entry that a
 *	  parallel query of its uses, once, into a dynamic shared memory
 *	  segment (the chunked bitmaps and sorted arrays, usable in place) and
 *	  writes the segment's handle into a file of its own,
 *	  pg_stat_tmp/lms_visibility.<leader pid>.<principal>.  A worker finds
 *	  its leader through its lock group, reads the handle, attaches,
 *	  checks the segment's header (magic, leader, principal, not stale)
 *	  and makes of it an ordinary VisResult: its bitmaps' chunks are the
 *	  segment's own words, the grants and smaller sets are copied.  The
 *	  file is written by the server only: no value a SQL user can set
 *	  takes part.  A stale entry is freed and unpublished by the leader's
 *	  next cache lookup, which in practice comes before its workers start;
 *	  for the window in between, the invalidation callback marks the
 *	  leader's segments stale (a plain store) and a worker that sees the
 *	  mark builds for itself.
 *
 *	  The same flat form, with the keys of the facts the entry read, is
 *	  what the server's shared cache (vis_shcache.c) keeps.
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

#include "vis_cache.h"

#define VIS_SHARE_MAGIC 0x4c4d5331	/* "LMS1" */
/* entries smaller than this are cheaper to rebuild than to share */
#define VIS_SHARE_MIN_IDS 1000

typedef enum SharedKind
{
	SHARED_EMPTY = 0,
	SHARED_BITMAP = 1,			/* a chunked bitmap */
	SHARED_SORTED = 2,			/* sorted ids */
	SHARED_FLAT = 3				/* a flat bitmap */
} SharedKind;

typedef struct SharedSet
{
	uint32		kind;			/* a SharedKind */
	uint32		mask;			/* bitmap: slots - 1 */
	uint64		n;				/* sorted: number of ids; flat: of bits */
	int64		base;			/* flat: the id of the first bit */
	Size		keys_off;		/* bitmap: int64 keys[slots]; sorted: int64 ids[n] */
	Size		idx_off;		/* bitmap: int32 chunk index per slot, -1: empty */
	Size		words_off;		/* bitmap, flat: the words */
} SharedSet;

typedef struct SharedGrant
{
	int64		content;
	uint64		ctx_start;		/* allowed context groups, sorted */
	uint64		ctx_n;
} SharedGrant;

typedef struct VisShareHeader
{
	uint32		magic;
	int32		leader_pid;
	int64		principal;
	volatile uint32 stale;
	bool		known;
	bool		sees_all;
	int64		tenant_id;
	uint64		nusers;
	uint64		nopen;
	uint64		ngroups;
	SharedSet		users;
	SharedSet		open;			/* unrestricted grants */
	SharedSet		groups;			/* the group scope (doc/rules.md, "The dimensions and the principal") */
	uint64		nrestricted;
	Size		restricted_off; /* SharedGrant[nrestricted], sorted by content */
	Size		ctx_off;		/* int64 context group ids */
	uint64		nfacts;
	Size		facts_off;		/* VisKey[nfacts], sorted: the keys of the facts it read */
	Size		total;
} VisShareHeader;

static VisResult *result_from_segment(const VisShareHeader *h, MemoryContext cxt);

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

/*
 * put_set writes a bitmap vis_bitmap_build built (flat, or its chunk table)
 * when there is one, else the n ids.
 */
static void
put_set(Writer *w, SharedSet *fs, const VisBitmap *bm, int64 *ids, uint64 n)
{
	memset(fs, 0, sizeof(SharedSet));
	if (bm->flat != NULL)
	{
		fs->kind = SHARED_FLAT;
		fs->n = bm->flat_bits;
		fs->base = bm->flat_base;
		fs->words_off = put(w, bm->flat, bm->flat_bits / 8);
	}
	else if (bm->slots != NULL)
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
		fs->kind = SHARED_BITMAP;
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
		fs->kind = SHARED_SORTED;
		fs->n = n;
		vis_sort_ids(ids, n);
		fs->keys_off = put(w, ids, n * sizeof(int64));
	}
}

static int
key_cmp(const void *a, const void *b)
{
	VisKey		x = *(const VisKey *) a;
	VisKey		y = *(const VisKey *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * serialize writes r, and the keys of the facts it read unless keys is
 * NULL, into w; with w->base NULL it only measures.
 */
static void
serialize(Writer *w, VisResult *r, keyset_hash *keys, VisShareHeader *h)
{
	int64	   *uids;
	int64	   *gids;
	uint64		no = 0,
				ng = 0,
				nr = 0,
				i;
	int64	   *open = vis_result_open_ids(r, &no);
	SharedGrant *restricted = palloc(sizeof(SharedGrant) * Max(r->ncontent, 1));
	VisIdArray	ctx = {0};
	int			nu = 0;

	w->off = sizeof(VisShareHeader);
	uids = vis_result_user_ids(r, &nu);
	if (r->any_restricted)
	{
		grantmap_iterator git;
		VisGrant   *g;

		grantmap_start_iterate(r->grants, &git);
		while ((g = grantmap_iterate(r->grants, &git)) != NULL)
		{
			int			k;
			int			start = ctx.n;

			if (g->unrestricted)
				continue;
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
	h->nusers = nu;
	h->nopen = no;
	h->ngroups = r->ngroups;
	gids = palloc(sizeof(int64) * Max(r->ngroups, 1));
	if (vis_bitmap_built(&r->group_bits))
		ng = vis_bitmap_ids(&r->group_bits, gids);
	else if (r->groups != NULL)
	{
		idset_iterator it;
		VisIdEntry *e;

		idset_start_iterate(r->groups, &it);
		while ((e = idset_iterate(r->groups, &it)) != NULL)
			gids[ng++] = e->id;
	}
	put_set(w, &h->groups, &r->group_bits, gids, ng);
	pfree(gids);
	/* restricted grants sorted by content: sort an index, keep ctx ranges */
	for (i = 1; i < nr; i++)
	{
		SharedGrant x = restricted[i];
		uint64		j = i;

		while (j > 0 && restricted[j - 1].content > x.content)
		{
			restricted[j] = restricted[j - 1];
			j--;
		}
		restricted[j] = x;
	}
	h->nrestricted = nr;
	h->restricted_off = put(w, restricted, nr * sizeof(SharedGrant));
	h->ctx_off = put(w, ctx.ids, ctx.n * sizeof(int64));
	h->nfacts = 0;
	if (keys != NULL && keys->members > 0)
	{
		VisKey	   *k = palloc(sizeof(VisKey) * keys->members);
		keyset_iterator kit;
		VisKeyEntry *ke;

		keyset_start_iterate(keys, &kit);
		while ((ke = keyset_iterate(keys, &kit)) != NULL)
			k[h->nfacts++] = ke->key;
		qsort(k, h->nfacts, sizeof(VisKey), key_cmp);
		h->facts_off = put(w, k, h->nfacts * sizeof(VisKey));
		pfree(k);
	}
	h->total = MAXALIGN(w->off);
}

/* finish serializes r into w->base, which has room for it, header first */
static void
finish(Writer *w, VisResult *r, keyset_hash *keys, VisShareHeader *h)
{
	serialize(w, r, keys, h);
	h->magic = VIS_SHARE_MAGIC;
	h->leader_pid = MyProcPid;
	h->principal = r->principal;
	h->stale = 0;
	h->known = r->known;
	h->sees_all = r->sees_all;
	h->tenant_id = r->tenant_id;
	memcpy(w->base, h, sizeof(VisShareHeader));
}

/*
 * vis_share_flatten returns r and the keys of the facts it read as one
 * palloc'd block usable in place by any process (the server's shared cache,
 * vis_shcache.c), and its length in *len.
 */
char *
vis_share_flatten(VisResult *r, keyset_hash *keys, Size *len)
{
	Writer		w = {NULL, 0};
	VisShareHeader h;

	memset(&h, 0, sizeof(h));
	serialize(&w, r, keys, &h);
	w.base = palloc0(h.total);
	finish(&w, r, keys, &h);
	*len = h.total;
	return w.base;
}

/*
 * vis_share_reads tells whether the flattened result blob read the fact of
 * key.  It allocates nothing.
 */
bool
vis_share_reads(const char *blob, VisKey key)
{
	const VisShareHeader *h = (const VisShareHeader *) blob;
	const VisKey *keys = (const VisKey *) (blob + h->facts_off);

	return h->nfacts > 0 &&
		bsearch(&key, keys, h->nfacts, sizeof(VisKey), key_cmp) != NULL;
}

/*
 * vis_share_result makes, in cxt, a VisResult of a flattened one whose
 * bitmaps are used in place: the blob must stay as it is while the result
 * is in use.
 */
VisResult *
vis_share_result(const char *blob, MemoryContext cxt)
{
	return result_from_segment((const VisShareHeader *) blob, cxt);
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
 * themselves).  The cache calls it in the leader of a parallel query.
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

	if (IsParallelWorker() || r->nusers + r->ncontent < VIS_SHARE_MIN_IDS)
		return NULL;
	sweep_files();

	memset(&h, 0, sizeof(h));
	serialize(&w, r, NULL, &h);
	seg = dsm_create(h.total, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
		return NULL;
	dsm_pin_mapping(seg);
	w.base = dsm_segment_address(seg);
	finish(&w, r, NULL, &h);

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

/*
 * set_in_place gives bm the segment's set, read in place: the segment
 * stays mapped for as long as the result is used, and nothing writes to it.
 */
static void
set_in_place(const char *base, const SharedSet *fs, VisBitmap *bm)
{
	memset(bm, 0, sizeof(VisBitmap));
	if (fs->kind == SHARED_FLAT)
	{
		bm->flat = (uint64 *) (base + fs->words_off);
		bm->flat_base = fs->base;
		bm->flat_bits = fs->n;
	}
	else if (fs->kind == SHARED_BITMAP)
	{
		bm->mask = fs->mask;
		bm->chunk_keys = (const int64 *) (base + fs->keys_off);
		bm->chunk_idx = (const int32 *) (base + fs->idx_off);
		bm->chunk_words = (const uint64 *) (base + fs->words_off);
	}
	else
	{
		/* an empty set too: built, with no ids */
		bm->sorted = (const int64 *) (base + fs->keys_off);
		bm->nsorted = fs->kind == SHARED_SORTED ? fs->n : 0;
	}
}

/*
 * result_from_segment makes, in cxt, a VisResult of the shared entry h
 * whose sets are read in place: the result itself, and the restricted
 * grants (tenants with extended visibility) as a map, are all it
 * allocates.
 */
static VisResult *
result_from_segment(const VisShareHeader *h, MemoryContext cxt)
{
	const char *base = (const char *) h;
	const SharedGrant *restricted = (const SharedGrant *) (base + h->restricted_off);
	const int64 *ctx = (const int64 *) (base + h->ctx_off);
	VisResult  *r = MemoryContextAllocZero(cxt, sizeof(VisResult));
	uint64		i,
				k;
	bool		found;

	r->principal = h->principal;
	r->known = h->known;
	r->tenant_id = h->tenant_id;
	r->sees_all = h->sees_all;
	r->cxt = cxt;
	r->nusers = h->nusers;
	set_in_place(base, &h->users, &r->user_bits);
	r->ngroups = h->ngroups;
	set_in_place(base, &h->groups, &r->group_bits);
	set_in_place(base, &h->open, &r->open_bits);
	r->ncontent = h->nopen + h->nrestricted;
	r->any_restricted = h->nrestricted > 0;
	if (!r->any_restricted)
		return r;
	r->grants = grantmap_create(cxt, Max(h->nrestricted, 16), NULL);
	for (i = 0; i < h->nrestricted; i++)
	{
		VisGrant   *g = grantmap_insert(r->grants, restricted[i].content, &found);

		g->unrestricted = false;
		g->nctx = g->maxctx = 1;
		g->ctx = MemoryContextAlloc(cxt, sizeof(VisIdSet *));
		g->ctx[0] = vis_idset_create(cxt, Max(restricted[i].ctx_n, 16));
		for (k = 0; k < restricted[i].ctx_n; k++)
			vis_idset_add(g->ctx[0], ctx[restricted[i].ctx_start + k]);
	}
	return r;
}

/*
 * result_pieces walks the pieces a result of vis_share_result holds in its
 * context (see VisResult): it returns their bytes, and with release frees
 * them.  Its sets are read in place: only the result, what was built on
 * demand and the restricted grants' map are its own.
 */
static Size
piece(void *ptr, bool release)
{
	Size		n = GetMemoryChunkSpace(ptr);

	if (release)
		pfree(ptr);
	return n;
}

static Size
result_pieces(VisResult *r, bool release)
{
	Size		n = 0;
	int			k;

	for (k = 0; k < 2; k++)
		if (r->ranges[k] != NULL)
			n += piece(r->ranges[k], release);
	if (r->user_array != (Datum) 0)
		n += piece(DatumGetPointer(r->user_array), release);
	if (r->content_array != (Datum) 0)
		n += piece(DatumGetPointer(r->content_array), release);
	if (r->grants != NULL)
	{
		grantmap_iterator it;
		VisGrant   *g;

		/* a simplehash table is its data array and its struct, in that order */
		grantmap_start_iterate(r->grants, &it);
		while ((g = grantmap_iterate(r->grants, &it)) != NULL)
		{
			n += piece(g->ctx[0]->data, release);
			n += piece(g->ctx[0], release);
			n += piece(g->ctx, release);
		}
		n += piece(r->grants->data, release);
		n += piece(r->grants, release);
	}
	return n + piece(r, release);
}

/*
 * vis_share_result_derived tells whether a result of vis_share_result
 * holds what was derived from it on demand (see VisResult): the runs the
 * range scan reads, the id arrays.
 */
bool
vis_share_result_derived(const VisResult *r)
{
	return r->ranges[0] != NULL || r->ranges[1] != NULL ||
		r->user_array != (Datum) 0 || r->content_array != (Datum) 0;
}

/* vis_share_result_free frees a result of vis_share_result */
void
vis_share_result_free(VisResult *r)
{
	result_pieces(r, true);
}

/* vis_share_result_bytes tells how many bytes of its context a result of vis_share_result holds */
Size
vis_share_result_bytes(VisResult *r)
{
	return result_pieces(r, false);
}

/*
 * vis_share_attach returns, allocated in cxt, the leader's shared entry of
 * a principal, or NULL when there is none to trust (then the worker builds
 * its own).
 */
VisResult *
vis_share_attach(int64 principal, MemoryContext cxt)
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
	return result_from_segment(h, cxt);
}
