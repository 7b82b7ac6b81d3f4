/*-------------------------------------------------------------------------
 *
 * vis_ids.h
 *	  The bottom layer of lms_visibility: sets and arrays of bigint ids, the
 *	  content grants, and the chunked bitmaps U(p) and C(p) are kept in.
 *
 * IDENTIFICATION
 *	  src/vis_ids.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VIS_IDS_H
#define VIS_IDS_H

#include "postgres.h"

/* the majors it builds against, and their differences */
#include "pg_compat.h"

/* ---------------------------------------------------------------------
 * Id sets: open-addressing hash sets of bigint ids (lib/simplehash.h)
 * ---------------------------------------------------------------------
 */
typedef struct VisIdEntry
{
	int64		id;
	char		status;
} VisIdEntry;

/* vis_hash64, splitmix64's finalizer: a cheap, well-mixed hash of a 64-bit id */
static inline uint32
vis_hash64(int64 key)
{
	uint64		x = (uint64) key;

	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return (uint32) x;
}

#define SH_PREFIX idset
#define SH_ELEMENT_TYPE VisIdEntry
#define SH_KEY_TYPE int64
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

typedef struct idset_hash VisIdSet;

extern VisIdSet *vis_idset_create(MemoryContext cxt, uint32 size);
extern bool vis_idset_add(VisIdSet *set, int64 id);
extern bool vis_idset_has(VisIdSet *set, int64 id);

/* a growable array of ids, for traversals and child lists */
typedef struct VisIdArray
{
	int			n;
	int			max;
	int64	   *ids;
} VisIdArray;

extern void vis_idarray_push(VisIdArray *a, int64 id);
extern void vis_idarray_append(VisIdArray *a, const int64 *ids, int n);
extern void vis_sort_ids(int64 *ids, size_t n);
extern int	vis_int64_cmp(const void *a, const void *b);

/* ---------------------------------------------------------------------
 * Content grants: content id -> unrestricted, or restricted to the union
 * of some context-group sets (doc/rules.md, "C(p), restricted grants")
 * ---------------------------------------------------------------------
 */
typedef struct VisGrant
{
	int64		id;
	char		status;
	bool		unrestricted;
	int			nctx;
	int			maxctx;
	VisIdSet  **ctx;
} VisGrant;

#define SH_PREFIX grantmap
#define SH_ELEMENT_TYPE VisGrant
#define SH_KEY_TYPE int64
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

/*
 * A chunked bitmap for id sets that are dense in places: 4096-bit chunks,
 * found through a small open-addressing table keyed by id >> 12.  Ids of
 * one platform are mostly dense, with outliers; a bit test then stays in
 * cache where a large hash set misses on every probe.
 */
#define VIS_CHUNK_SHIFT 12
#define VIS_CHUNK_WORDS ((1 << VIS_CHUNK_SHIFT) / 64)

typedef struct VisBitChunk
{
	int64		key;			/* id >> VIS_CHUNK_SHIFT */
	uint64	   *words;			/* NULL: empty slot */
} VisBitChunk;

static inline uint32
vis_chunk_hash(int64 key)
{
	uint64		x = (uint64) key * UINT64CONST(0x9e3779b97f4a7c15);

	return (uint32) (x >> 32);
}

/*
 * A bitmap is one of two shapes: when its chunks span a short range, one
 * array of bits from flat_base on (a test is then one load); otherwise the
 * chunk table.  A shared entry's bitmap is read in place, in the flat form
 * vis_share.c writes, where a pointer per chunk cannot be: its chunk table
 * is then the keys, and the index of each slot's words (-1: empty), and
 * its sparse sets are their sorted ids.  None of these: not built.
 */
typedef struct VisBitmap
{
	uint32		mask;			/* slots - 1, of slots or chunk_keys */
	VisBitChunk *slots;			/* NULL: no chunk table */
	uint64	   *flat;			/* NULL: no flat array */
	int64		flat_base;		/* the id of the first bit */
	uint64		flat_bits;
	const int64 *chunk_keys;	/* NULL: no chunk table in place */
	const int32 *chunk_idx;
	const uint64 *chunk_words;
	const int64 *sorted;		/* NULL: no sorted ids in place */
	uint64		nsorted;
} VisBitmap;

/* vis_result.c: the bitmaps, and the results' representation below */
extern bool vis_bitmap_build(VisBitmap *bm, int64 *ids, uint64 n, MemoryContext cxt);
extern uint64 vis_bitmap_ids(const VisBitmap *bm, int64 *out);

static inline bool
vis_bitmap_built(const VisBitmap *bm)
{
	return bm->flat != NULL || bm->slots != NULL || bm->chunk_keys != NULL ||
		bm->sorted != NULL;
}

/* vis_sorted_has tells whether id is among n sorted ids */
static inline bool
vis_sorted_has(const int64 *ids, uint64 n, int64 id)
{
	uint64		lo = 0,
				hi = n;

	while (lo < hi)
	{
		uint64		mid = lo + (hi - lo) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ids[lo] == id;
}

/* vis_bitmap_test tells whether id is in a built bitmap: the per-row test */
static inline bool
vis_bitmap_test(const VisBitmap *bm, int64 id)
{
	int64		key = id >> VIS_CHUNK_SHIFT;
	uint32		h;
	uint32		off;

	if (bm->flat != NULL)
	{
		uint64		bit = (uint64) id - (uint64) bm->flat_base;

		return bit < bm->flat_bits && ((bm->flat[bit >> 6] >> (bit & 63)) & 1);
	}
	h = vis_chunk_hash(key) & bm->mask;
	off = (uint32) (id & ((1 << VIS_CHUNK_SHIFT) - 1));
	if (bm->slots != NULL)
	{
		for (;;)
		{
			const VisBitChunk *c = &bm->slots[h];

			if (c->words == NULL)
				return false;
			if (c->key == key)
				return (c->words[off >> 6] >> (off & 63)) & 1;
			h = (h + 1) & bm->mask;
		}
	}
	if (bm->chunk_keys != NULL)
	{
		for (;;)
		{
			int32		i = bm->chunk_idx[h];

			if (i < 0)
				return false;
			if (bm->chunk_keys[h] == key)
				return (bm->chunk_words[(Size) i * VIS_CHUNK_WORDS + (off >> 6)] >> (off & 63)) & 1;
			h = (h + 1) & bm->mask;
		}
	}
	return vis_sorted_has(bm->sorted, bm->nsorted, id);
}

#endif							/* VIS_IDS_H */
