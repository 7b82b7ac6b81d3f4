/*-------------------------------------------------------------------------
 *
 * vis_result.c
 *	  The representation of a principal's result: U(p) as a hash set or a
 *	  bitmap, C(p) as a map of grants and a bitmap of the
 *	  unrestricted ones, their sorted ids and runs, and the tests the row
 *	  rule makes of them (the inline ones are in vis_engine.h); and the
 *	  id sets, growable id arrays and sorting they and the tenant's
 *	  structure (vis_graph.c) are built from.
 *
 * IDENTIFICATION
 *	  src/vis_result.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "vis_engine.h"

#define SH_PREFIX idset
#define SH_ELEMENT_TYPE VisIdEntry
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) vis_hash64(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE extern
#define SH_DEFINE
#include "lib/simplehash.h"

#define SH_PREFIX grantmap
#define SH_ELEMENT_TYPE VisGrant
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) vis_hash64(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE extern
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * vis_idset_create makes an empty id set in cxt.
 */
VisIdSet *
vis_idset_create(MemoryContext cxt, uint32 size)
{
	return idset_create(cxt, Max(size, 16), NULL);
}

/*
 * vis_idset_add adds id and says whether it was new.
 */
bool
vis_idset_add(VisIdSet *set, int64 id)
{
	bool		found;

	idset_insert(set, id, &found);
	return !found;
}

/*
 * vis_idset_has tells whether id is in the set.
 */
bool
vis_idset_has(VisIdSet *set, int64 id)
{
	return set != NULL && idset_lookup(set, id) != NULL;
}

/*
 * vis_sort_ids sorts bigint ids in place: sort_template.h with the
 * comparison inlined, where qsort calls a comparator function for every
 * comparison (sorting was a third of a 100,000-user rebuild).
 */
#define ST_SORT sort_int64
#define ST_ELEMENT_TYPE int64
#define ST_COMPARE(a, b) (*(a) < *(b) ? -1 : (*(a) > *(b) ? 1 : 0))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

void
vis_sort_ids(int64 *ids, size_t n)
{
	sort_int64(ids, n);
}

/*
 * vis_int64_cmp orders bigint ids, for bsearch.
 */
int
vis_int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * vis_idarray_push appends id to a growable array in the current context.
 */
void
vis_idarray_push(VisIdArray *a, int64 id)
{
	if (a->n >= a->max)
	{
		a->max = Max(8, a->max * 2);
		if (a->ids == NULL)
			a->ids = palloc(sizeof(int64) * a->max);
		else
			a->ids = repalloc(a->ids, sizeof(int64) * a->max);
	}
	a->ids[a->n++] = id;
}

/*
 * vis_idarray_append appends n ids to a growable array in the current
 * context.
 */
void
vis_idarray_append(VisIdArray *a, const int64 *ids, int n)
{
	if (n <= 0)
		return;
	if (a->n + n > a->max)
	{
		a->max = Max(Max(8, a->max * 2), a->n + n);
		if (a->ids == NULL)
			a->ids = palloc(sizeof(int64) * a->max);
		else
			a->ids = repalloc(a->ids, sizeof(int64) * a->max);
	}
	memcpy(a->ids + a->n, ids, sizeof(int64) * n);
	a->n += n;
}

static int64 *user_ids(VisResult *r, int *n, bool sorted);

/* bitmap_set sets the bit of id, adding its chunk when it has none */
static void
bitmap_set(VisBitmap *bm, int64 id, MemoryContext cxt)
{
	int64		key = id >> VIS_CHUNK_SHIFT;
	uint32		h = vis_chunk_hash(key) & bm->mask;
	uint32		off = (uint32) (id & ((1 << VIS_CHUNK_SHIFT) - 1));
	VisBitChunk *c;

	for (;;)
	{
		c = &bm->slots[h];
		if (c->words == NULL)
		{
			c->key = key;
			c->words = MemoryContextAllocZero(cxt, VIS_CHUNK_WORDS * sizeof(uint64));
			break;
		}
		if (c->key == key)
			break;
		h = (h + 1) & bm->mask;
	}
	c->words[off >> 6] |= UINT64CONST(1) << (off & 63);
}

/*
 * count_chunks tells how many 4096-bit chunks the ids touch, of the nkeys
 * chunk ranges from lo's: with a bit per chunk range when there are no
 * more of them than ids, else (far outliers) with a hash set.
 */
static uint64
count_chunks(const int64 *ids, uint64 n, int64 lo, uint64 nkeys)
{
	uint64		count = 0;
	uint64		i;

	if (nkeys <= n)
	{
		uint64	   *seen = palloc0(((nkeys + 63) / 64) * sizeof(uint64));

		for (i = 0; i < n; i++)
		{
			uint64		k = (uint64) ((ids[i] >> VIS_CHUNK_SHIFT) - (lo >> VIS_CHUNK_SHIFT));

			seen[k >> 6] |= UINT64CONST(1) << (k & 63);
		}
		for (i = 0; i < (nkeys + 63) / 64; i++)
			count += pg_popcount64(seen[i]);
		pfree(seen);
	}
	else
	{
		VisIdSet   *chunks = vis_idset_create(CurrentMemoryContext, 64);

		for (i = 0; i < n; i++)
			vis_idset_add(chunks, ids[i] >> VIS_CHUNK_SHIFT);
		count = chunks->members;
		idset_destroy(chunks);
	}
	return count;
}

/*
 * vis_bitmap_build makes a bitmap of ids when they are dense enough (16 or
 * more per chunk on average, so at most 32 bytes per id in chunks, like
 * the hash set), and says whether it did.  When the chunks lie close
 * together (at most twice as many chunk ranges as chunks), the bits go in
 * one array instead: a test is then one load instead of a probe of the
 * chunk table and a load, for at most twice the chunks' memory.
 */
bool
vis_bitmap_build(VisBitmap *bm, int64 *ids, uint64 n, MemoryContext cxt)
{
	uint64		nchunks;
	uint32		slots = 4;
	uint64		i;
	int64		lo,
				hi;
	uint64		nkeys;

	memset(bm, 0, sizeof(VisBitmap));
	if (n == 0)
		return false;
	lo = hi = ids[0];
	for (i = 0; i < n; i++)
	{
		lo = Min(lo, ids[i]);
		hi = Max(hi, ids[i]);
	}
	nkeys = (uint64) ((hi >> VIS_CHUNK_SHIFT) - (lo >> VIS_CHUNK_SHIFT)) + 1;
	nchunks = count_chunks(ids, n, lo, nkeys);
	if (n / nchunks < 16)
		return false;

	if (nkeys <= 2 * nchunks)
	{
		bm->flat_base = (lo >> VIS_CHUNK_SHIFT) << VIS_CHUNK_SHIFT;
		bm->flat_bits = nkeys << VIS_CHUNK_SHIFT;
		bm->flat = MemoryContextAllocExtended(cxt, bm->flat_bits / 8, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		for (i = 0; i < n; i++)
		{
			uint64		off = (uint64) ids[i] - (uint64) bm->flat_base;

			bm->flat[off >> 6] |= UINT64CONST(1) << (off & 63);
		}
		return true;
	}

	while (slots < nchunks * 2)
		slots *= 2;
	bm->mask = slots - 1;
	bm->slots = MemoryContextAllocZero(cxt, slots * sizeof(VisBitChunk));
	for (i = 0; i < n; i++)
		bitmap_set(bm, ids[i], cxt);
	return true;
}

/* words_ids appends the ids of the set bits of words, the first at base */
static uint64
words_ids(const uint64 *words, uint64 nwords, int64 base, int64 *out)
{
	uint64		n = 0;
	uint64		w;

	for (w = 0; w < nwords; w++)
	{
		uint64		word = words[w];

		while (word != 0)
		{
			out[n++] = base + (int64) (w * 64) + pg_rightmost_one_pos64(word);
			word &= word - 1;
		}
	}
	return n;
}

/*
 * vis_bitmap_ids writes the ids of a built bitmap into out (in order when
 * it is flat) and returns how many there are.
 */
uint64
vis_bitmap_ids(const VisBitmap *bm, int64 *out)
{
	uint64		n = 0;
	uint32		s;

	if (bm->flat != NULL)
		return words_ids(bm->flat, bm->flat_bits / 64, bm->flat_base, out);
	if (bm->sorted != NULL)
	{
		memcpy(out, bm->sorted, sizeof(int64) * bm->nsorted);
		return bm->nsorted;
	}
	for (s = 0; s <= bm->mask; s++)
	{
		if (bm->slots != NULL && bm->slots[s].words != NULL)
			n += words_ids(bm->slots[s].words, VIS_CHUNK_WORDS,
						   bm->slots[s].key << VIS_CHUNK_SHIFT, out + n);
		else if (bm->slots == NULL && bm->chunk_idx[s] >= 0)
			n += words_ids(bm->chunk_words + (Size) bm->chunk_idx[s] * VIS_CHUNK_WORDS,
						   VIS_CHUNK_WORDS, bm->chunk_keys[s] << VIS_CHUNK_SHIFT, out + n);
	}
	return n;
}

/* bitmap_count counts the ids of a bitmap vis_bitmap_build built */
static uint64
bitmap_count(const VisBitmap *bm)
{
	uint64		n = 0;
	uint64		w;
	uint32		s;

	if (bm->flat != NULL)
		return pg_popcount((const char *) bm->flat, bm->flat_bits / 8);
	for (s = 0; s <= bm->mask; s++)
		for (w = 0; bm->slots[s].words != NULL && w < VIS_CHUNK_WORDS; w++)
			n += pg_popcount64(bm->slots[s].words[w]);
	return n;
}

/*
 * vis_result_finish makes U(p) of the users in its set and those of bulk
 * (users of the tenant, which may repeat), and adds bitmaps for dense id
 * sets: a membership test is then a bit test, which stays in cache where a
 * large hash set would miss on every probe of a scan in random order.
 * When U(p) has a bitmap, its set no longer holds all of U(p) unless bulk
 * was empty.
 */
void
vis_result_finish(VisResult *r, const VisIdArray *bulk, MemoryContext cxt)
{
	grantmap_iterator git;
	VisGrant   *g;
	int64	   *ids;
	uint64		n = 0;
	idset_iterator it;
	VisIdEntry *e;
	int			i;

	ids = palloc(sizeof(int64) * Max(r->users->members + bulk->n, 1));
	idset_start_iterate(r->users, &it);
	while ((e = idset_iterate(r->users, &it)) != NULL)
		ids[n++] = e->id;
	if (bulk->n > 0)
		memcpy(ids + n, bulk->ids, sizeof(int64) * bulk->n);
	n += bulk->n;
	if (vis_bitmap_build(&r->user_bits, ids, n, cxt))
		r->nusers = bitmap_count(&r->user_bits);
	else
	{
		for (i = 0; i < bulk->n; i++)
			vis_idset_add(r->users, bulk->ids[i]);
		r->nusers = r->users->members;
	}
	pfree(ids);

	r->any_restricted = false;
	r->ncontent = r->grants->members;
	n = 0;
	ids = palloc(sizeof(int64) * Max(r->grants->members, 1));
	grantmap_start_iterate(r->grants, &git);
	while ((g = grantmap_iterate(r->grants, &git)) != NULL)
	{
		if (g->unrestricted)
			ids[n++] = g->id;
		else
			r->any_restricted = true;
	}
	vis_bitmap_build(&r->open_bits, ids, n, cxt);
	pfree(ids);
}

/* grant returns the grant of content_id in the map of grants, or NULL */
static VisGrant *
grant(VisResult *r, int64 content_id)
{
	return r->grants != NULL ? grantmap_lookup(r->grants, content_id) : NULL;
}

/*
 * vis_result_access tells whether C(p) holds content_id, and whether only
 * by grants restricted to context groups.  The unrestricted grants are
 * those of open_bits when it is built, else those of the map of grants
 * (see VisResult).
 */
VisAccess
vis_result_access(VisResult *r, int64 content_id)
{
	VisGrant   *g;

	if (vis_bitmap_built(&r->open_bits) && vis_bitmap_test(&r->open_bits, content_id))
		return VIS_ACCESS_OPEN;
	g = grant(r, content_id);
	if (g == NULL)
		return VIS_ACCESS_NONE;
	return g->unrestricted ? VIS_ACCESS_OPEN : VIS_ACCESS_RESTRICTED;
}

/*
 * vis_result_open_ids returns the ids of the unrestricted grants of C(p),
 * in a new array, and their number in *n.
 */
int64 *
vis_result_open_ids(VisResult *r, uint64 *n)
{
	int64	   *ids = palloc(sizeof(int64) * Max(r->ncontent, 1));

	*n = 0;
	if (vis_bitmap_built(&r->open_bits))
		*n = vis_bitmap_ids(&r->open_bits, ids);
	else if (r->grants != NULL)
	{
		grantmap_iterator it;
		VisGrant   *g;

		grantmap_start_iterate(r->grants, &it);
		while ((g = grantmap_iterate(r->grants, &it)) != NULL)
			if (g->unrestricted)
				ids[(*n)++] = g->id;
	}
	return ids;
}

/*
 * user_ids returns the ids of U(p) in a new array, sorted if asked: from
 * the hash set, or from the bitmap once it alone holds them.
 */
static int64 *
user_ids(VisResult *r, int *n, bool sorted)
{
	int64	   *ids = palloc(sizeof(int64) * Max(r->nusers, 1));

	*n = 0;
	if (r->users != NULL)
	{
		idset_iterator it;
		VisIdEntry *e;

		idset_start_iterate(r->users, &it);
		while ((e = idset_iterate(r->users, &it)) != NULL)
			ids[(*n)++] = e->id;
	}
	else
		*n = (int) vis_bitmap_ids(&r->user_bits, ids);
	Assert(*n == r->nusers);
	if (sorted)
		vis_sort_ids(ids, *n);
	return ids;
}

/*
 * vis_result_user_ids returns the ids of U(p), sorted, in a new array.
 */
int64 *
vis_result_user_ids(VisResult *r, int *n)
{
	return user_ids(r, n, true);
}

/*
 * vis_result_content_ids returns the ids of C(p), restricted or not,
 * sorted, in a new array.
 */
int64 *
vis_result_content_ids(VisResult *r, int *n)
{
	uint64		nopen;
	int64	   *ids = vis_result_open_ids(r, &nopen);

	*n = (int) nopen;
	if (r->any_restricted)
	{
		grantmap_iterator it;
		VisGrant   *g;

		grantmap_start_iterate(r->grants, &it);
		while ((g = grantmap_iterate(r->grants, &it)) != NULL)
			if (!g->unrestricted)
				ids[(*n)++] = g->id;
	}
	Assert(*n == r->ncontent);
	vis_sort_ids(ids, *n);
	return ids;
}

/*
 * vis_result_grant_sees is the content half of the row rule (vis_result_sees
 * in vis_engine.h) past the bitmap of unrestricted grants: some grant of
 * the content is unrestricted or lists the context group (a null context
 * never qualifies).
 */
bool
vis_result_grant_sees(VisResult *r, int64 content_id, bool has_context, int64 context_id)
{
	VisGrant   *g = grant(r, content_id);
	int			i;

	if (g == NULL)
		return false;
	if (g->unrestricted)
		return true;
	if (!has_context)
		return false;
	for (i = 0; i < g->nctx; i++)
		if (idset_lookup(g->ctx[i], context_id) != NULL)
			return true;
	return false;
}

/*
 * vis_result_ranges returns the ids of U(p) or C(p) (the side) as
 * runs of consecutive ids, n pairs (lo, hi) in id order: what the range
 * scan of vis_rangescan.c reads an index by.  Built once per result, in its
 * context.
 */
const int64 *
vis_result_ranges(VisResult *r, VisSide side, int *n)
{
	int			k = (side == VIS_SIDE_USERS) ? 0 : 1;

	Assert(side == VIS_SIDE_USERS || side == VIS_SIDE_CONTENT);
	if (r->ranges[k] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(r->cxt);
		int			nids;
		int64	   *ids = (side == VIS_SIDE_USERS) ? vis_result_user_ids(r, &nids) :
			vis_result_content_ids(r, &nids);
		int64	   *ranges = palloc(sizeof(int64) * 2 * Max(nids, 1));
		int			nranges = 0;
		int			i;

		for (i = 0; i < nids; i++)
		{
			if (nranges > 0 && ids[i] == ranges[2 * nranges - 1] + 1)
				ranges[2 * nranges - 1] = ids[i];
			else if (nranges == 0 || ids[i] != ranges[2 * nranges - 1])
			{
				ranges[2 * nranges] = ids[i];
				ranges[2 * nranges + 1] = ids[i];
				nranges++;
			}
		}
		pfree(ids);
		r->nranges[k] = nranges;
		r->ranges[k] = repalloc(ranges, sizeof(int64) * 2 * Max(nranges, 1));
		MemoryContextSwitchTo(old);
	}
	*n = r->nranges[k];
	return r->ranges[k];
}


/*
 * vis_ids_array returns a bigint[] of n sorted ids, allocated in cxt.
 */
Datum
vis_ids_array(const int64 *ids, int n, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	ArrayType  *a;
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	a = construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(elems);
	MemoryContextSwitchTo(old);
	return PointerGetDatum(a);
}
