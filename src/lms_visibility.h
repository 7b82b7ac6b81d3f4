/*-------------------------------------------------------------------------
 *
 * lms_visibility.h
 *	  Shared declarations of the lms_visibility extension: id sets, the
 *	  store loader, the visibility engine, the cache and principals.
 *
 * IDENTIFICATION
 *	  src/lms_visibility.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LMS_VISIBILITY_H
#define LMS_VISIBILITY_H

#include "postgres.h"

/* the majors it builds against, and their differences */
#include "pg_compat.h"

#include "access/attnum.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "nodes/plannodes.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

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

/* ---------------------------------------------------------------------
 * Invalidation keys (vis_inval.c): the store facts a cached result read
 * ---------------------------------------------------------------------
 */
typedef uint32 VisKey;			/* an OID of the key range, never a relation */

#define VIS_KEY_BASE ((VisKey) 0xC0000000)
#define VIS_KEY_MASK ((VisKey) 0x3FFFFFFF)
#define VisIsKey(oid) (((oid) & VIS_KEY_BASE) == VIS_KEY_BASE)

typedef struct VisKeyEntry
{
	VisKey		key;
	char		status;
} VisKeyEntry;

#define SH_PREFIX keyset
#define SH_ELEMENT_TYPE VisKeyEntry
#define SH_KEY_TYPE VisKey
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

/*
 * The columns a store relation is read by.  VIS_FACT_ALL: read in full, any
 * change counts; VIS_FACT_ROWS: only which rows exist counts (a row count),
 * so an UPDATE does not.
 */
#define VIS_FACT_ALL "*"
#define VIS_FACT_ROWS "#"
#define VIS_MAX_FACT_COLUMNS 2

typedef struct VisStoreFacts
{
	const char *relname;
	const char *columns[VIS_MAX_FACT_COLUMNS];
} VisStoreFacts;

extern const VisStoreFacts vis_store_facts[];
extern const VisStoreFacts *vis_store_facts_of(const char *relname);
extern bool vis_fact_declared(const char *relname, const char *column);
extern VisKey vis_key(Oid relid, AttrNumber attnum, int64 value);

/* what one build read, and what arrived while it ran */
typedef struct VisRecorder
{
	keyset_hash *keys;
	int			nreceived;
	VisKey		received[64];
	bool		flushed;		/* a flush, or more keys than received[] holds */
	struct VisRecorder *outer;
} VisRecorder;

extern void vis_inval_init(void);
extern void vis_record_start(VisRecorder *rec, MemoryContext cxt);
extern bool vis_record_stop(VisRecorder *rec);
extern bool vis_record_active(void);
extern void vis_record_add(VisKey key);
extern void vis_record_own(VisRecorder *rec, VisKey key);
extern void vis_record_scan(Oid relid, AttrNumber attnum, int64 value);
extern void vis_record_copy(keyset_hash *keys);
extern void vis_record_received(VisKey key);
extern bool vis_inval_send(VisKey key);
extern void vis_inval_flushed(void);
#define VIS_MAX_XACT_KEYS 256
extern bool vis_inval_xact_sent(const VisKey **keys, int *n, bool *all);

/* ---------------------------------------------------------------------
 * The store loader (vis_load.c): direct index scans of lms tables
 * ---------------------------------------------------------------------
 */
typedef void (*VisRowFn) (void *arg, Datum *values, bool *nulls);

extern Oid	vis_relid(const char *relname, bool missing_ok);
extern Snapshot vis_snapshot(void);
extern Snapshot vis_build_snapshot(bool xact_ok, bool *keep);
extern void vis_load_forget(Oid relid);
extern int	vis_scan(const char *relname, const char *indexname, int64 key,
					 int natts, const char *const *attnames,
					 Snapshot snapshot, VisRowFn fn, void *arg);
extern int	vis_scan_keys(const char *relname, const char *indexname, const int64 *keys,
						  int nkeys, int natts, const char *const *attnames,
						  Snapshot snapshot, VisRowFn fn, void *arg, bool record);
extern VisKey vis_scan_key(const char *relname, const char *indexname, int natts,
						   const char *const *attnames, int64 value);
extern double vis_reltuples(const char *relname);
extern bool vis_fetch_one(const char *relname, const char *indexname, int64 key,
						  int natts, const char *const *attnames,
						  Snapshot snapshot, Datum *values, bool *nulls);

/* ---------------------------------------------------------------------
 * Citus (vis_citus.c): a store relation's shards on this node
 * ---------------------------------------------------------------------
 */
#define VIS_MAX_PARTS 64
#define VIS_CITUS_REFERENCE 'n'	/* pg_dist_partition.partmethod */

typedef struct VisParts
{
	char		method;			/* 0: not a Citus table */
	int			nparts;
	Oid			relids[VIS_MAX_PARTS];
	int64		shardids[VIS_MAX_PARTS];
} VisParts;

extern bool vis_citus_loaded(void);
extern bool vis_citus_parts(Oid relid, VisParts *parts);
extern void vis_citus_forget(Oid relid);
extern const char *vis_store_relname(Relation rel);

/* ---------------------------------------------------------------------
 * Citus (vis_citus_statement.c): the principal a statement carries to the
 * nodes
 * ---------------------------------------------------------------------
 */
extern void vis_citus_check_statement(PlannedStmt *stmt);
extern void vis_citus_init(void);

/* ---------------------------------------------------------------------
 * The visibility engine: the tenant's graph (vis_graph.c), groups'
 * members (vis_members.c), the rules (vis_rules.c), their results
 * (vis_result.c) and why (vis_explain.c)
 * ---------------------------------------------------------------------
 */
typedef enum VisKind
{
	KIND_NONE = 0,
	KIND_PATH,
	KIND_PATH_SESSION,
	KIND_COURSE,
	KIND_CLASSROOM,
	KIND_CLASSROOM_SLOT
} VisKind;

extern const char *const vis_kind_names[];
extern VisKind vis_kind_from_text(const char *s);

typedef struct VisGroup
{
	int64		id;
	char		status;
	int64		parent;			/* 0 = top level */
	char	   *name;			/* NULL unless loaded with labels */
	VisIdArray	children;
	VisIdArray	owned;			/* content owned by the group */
} VisGroup;

#define SH_PREFIX groupmap
#define SH_ELEMENT_TYPE VisGroup
#define SH_KEY_TYPE int64
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

typedef struct VisContent
{
	int64		id;
	char		status;
	VisKind		kind;
	int64		parent;			/* 0 = none */
	int64		owner;			/* 0 = none */
	int64		author;			/* 0 = none */
	char	   *title;
	VisIdArray	children;		/* sessions of a path, slots of a classroom */
} VisContent;

#define SH_PREFIX contentmap
#define SH_ELEMENT_TYPE VisContent
#define SH_KEY_TYPE int64
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

/* a user's list of ids: the content a user is the main author of */
typedef struct VisIdList
{
	int64		id;
	char		status;
	VisIdArray	ids;
} VisIdList;

#define SH_PREFIX idlistmap
#define SH_ELEMENT_TYPE VisIdList
#define SH_KEY_TYPE int64
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

/*
 * One tenant's structure: what every principal of the tenant reads (the
 * group and content trees, who owns and who authored what).  The cache
 * keeps it for the principals it builds; explain_visibility loads its own,
 * with labels.
 */
typedef struct VisTenant
{
	int64		tenant_id;
	bool		extended;
	groupmap_hash *groups;
	contentmap_hash *content;
	idlistmap_hash *authored;	/* main author -> content */
	MemoryContext cxt;			/* where the structure and its members live */
	struct memberlist_hash *members;	/* vis_members.c, read on demand */
	keyset_hash *member_keys;	/* the facts the member lists read */
	/* the tenant's users read in full (vis_tenant_users_among) */
	struct VisBitmap *users;	/* NULL: not read */
	bool		users_live;		/* false: a user was added or deleted since */
	MemoryContext users_cxt;	/* where they live */
	TransactionId users_xmax;	/* the xmax of the snapshot they were read in */
	VisKey		users_key;		/* the fact they were read from */
	double		users_probed;	/* ids looked up one by one since */
} VisTenant;

/*
 * The members of one group who are users of the tenant (vis_members.c),
 * read the first time a principal's rules need them and kept with the
 * tenant's structure until a membership of the group changes.
 */
typedef struct VisMembers
{
	int64		id;				/* the group */
	char		status;
	bool		live;			/* false: a membership changed, read again */
	VisKey		key;			/* the fact the list was read from */
	VisIdArray	users;
} VisMembers;

#define SH_PREFIX memberlist
#define SH_ELEMENT_TYPE VisMembers
#define SH_KEY_TYPE int64
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

extern VisMembers **vis_group_members(VisTenant *t, const VisIdArray *groups, Snapshot snap);
extern bool vis_members_changed(VisTenant *t, VisKey key);

/* where vis_compute takes a principal's tenant from */
typedef VisTenant *(*VisTenantFn) (int64 tenant_id, Snapshot snap, void *arg);

extern VisTenant *vis_tenant_load(int64 tenant_id, Snapshot snap, bool labels);
/* which of some ids are users of a tenant: vis_tenant_users_among's answer */
typedef struct VisTenantUsers
{
	const struct VisBitmap *known;	/* the tenant's users read in full, or NULL */
	VisIdSet   *found;			/* the others found */
} VisTenantUsers;

extern VisTenantUsers vis_tenant_users_among(VisTenant *t, const int64 *ids, int n,
											 Snapshot snap);
extern bool vis_is_tenant_user(const VisTenantUsers *tu, int64 id);
extern bool vis_tenant_users_changed(VisTenant *t, VisKey key);
extern VisIdSet *vis_subtree(VisTenant *t, int64 root, VisIdArray *out);
extern VisIdSet *vis_connected(VisTenant *t, VisIdSet *s, VisIdArray *s_arr,
							   VisIdArray *out, Snapshot snap);
extern const char *vis_group_label(VisTenant *t, int64 group_id);
extern const char *vis_content_label(VisTenant *t, int64 content_id);

/* The roles and relations of doc/rules.md, "The rules", in its order */
typedef enum VisRuleId
{
	RULE_PLATFORM_ADMIN,
	RULE_LEARNER_MANAGER,
	RULE_GROUP_ADMIN,
	RULE_GROUP_ANALYST,
	RULE_GROUP_LEADER,
	RULE_COACH,
	RULE_EDITOR,
	RULE_MANAGER,
	RULE_TRAINER,
	RULE_INSTRUCTOR,
	RULE_CONTRIBUTOR,
	RULE_MAIN_AUTHOR,
	RULE_COAUTHOR,
	RULE_COUNT
} VisRuleId;

/* One role or relation held by the principal: a rule and its object */
typedef struct VisSource
{
	VisRuleId	rule;
	int64		object;			/* group, slot, session or content; 0 = none */
} VisSource;

/* How a grant came about, for explain_visibility */
typedef enum VisVia
{
	VIA_TENANT,					/* everything of the tenant */
	VIA_MEMBER,					/* member of group <object> */
	VIA_MANAGED,				/* managed through manager <object> */
	VIA_REGISTERED,				/* registered in slot <object> */
	VIA_PLAYED,					/* played session <object> */
	VIA_SELF,					/* own results */
	VIA_DIRECT,					/* the content itself */
	VIA_OWNED,					/* owned by group <object> */
	VIA_SESSION_OF,				/* a session of path <object> */
	VIA_SLOT_OF,				/* a slot of classroom <object> */
	VIA_CATALOG,				/* a course in the catalog of group <object> */
	VIA_LEGACY,					/* legacy group enrolment of group <object> */
	VIA_ASSIGNED				/* assigned to a learner by group <object> */
} VisVia;

/* Why a user or a grant was added: the role (rule and object), and how */
typedef struct VisWhy
{
	VisSource	src;
	VisVia		via;
	int64		object;			/* the group, manager or content of via */
} VisWhy;

/*
 * What explain_visibility asks the engine to record: the reasons (rule,
 * object and how) for one user and one content item; vis_explain.c writes
 * the sentences.
 */
typedef struct VisWitness
{
	int64		user_id;
	int64		content_id;
	int64		context_id;		/* 0 = null context */
	List	   *user_reasons;	/* VisWhy * */
	List	   *content_reasons;	/* VisWhy *, unrestricted grants */
	List	   *restricted_reasons; /* VisWhy *, parallel to restricted_sets */
	List	   *restricted_sets;	/* VisIdSet * */
} VisWitness;

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
 * chunk table.  Neither: not built.
 */
typedef struct VisBitmap
{
	uint32		mask;			/* slots - 1 */
	VisBitChunk *slots;			/* NULL: no chunk table */
	uint64	   *flat;			/* NULL: no flat array */
	int64		flat_base;		/* the id of the first bit */
	uint64		flat_bits;
} VisBitmap;

/* vis_result.c: the bitmaps, and the results' representation below */
extern bool vis_bitmap_build(VisBitmap *bm, int64 *ids, uint64 n, MemoryContext cxt);
extern uint64 vis_bitmap_ids(const VisBitmap *bm, int64 *out);

static inline bool
vis_bitmap_built(const VisBitmap *bm)
{
	return bm->flat != NULL || bm->slots != NULL;
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

/*
 * The two sets of a result, as the planner and the range scan read them;
 * each value is also the position of its column among the policy's
 * arguments (principal, user_id, content_id, context_group_id).
 */
typedef enum VisSide
{
	VIS_SIDE_NONE = 0,
	VIS_SIDE_USERS = 1,			/* U(p), the user_id column */
	VIS_SIDE_CONTENT = 2		/* C(p), the content_id column */
} VisSide;

/* The result of the engine for one principal */
typedef struct VisResult
{
	int64		principal;
	bool		known;			/* the principal is a user */
	int64		tenant_id;
	VisIdSet   *users;			/* U(p); NULL once user_bits hold it */
	uint64		nusers;			/* |U(p)| */
	grantmap_hash *grants;		/* C(p) */
	List	   *sources;		/* VisSource *, the principal's roles */
	VisTenant  *tenant;
	VisBitmap	user_bits;		/* U(p) again, when its ids are dense */
	VisBitmap	open_bits;		/* unrestricted grants, when dense */
	bool		any_restricted; /* some grant is restricted */
	bool		sees_all;		/* every row of the store: see vis_exec.c */
	/* the groups whose rows p sees (doc/rules.md, "The dimensions and the principal"): a bitmap, or else a set */
	VisBitmap	group_bits;
	VisIdSet   *groups;
	uint64		ngroups;
	Datum		user_array;		/* sorted bigint[] of U(p), built on demand */
	Datum		content_array;	/* sorted bigint[] of C(p), built on demand */
	int64	   *ranges[2];		/* runs of consecutive ids of U(p), C(p) */
	int			nranges[2];		/* (lo, hi pairs), built on demand */
	MemoryContext cxt;			/* where the result lives */
} VisResult;

extern VisResult *vis_compute(int64 principal, VisWitness *witness, Snapshot snap,
							  VisTenantFn get_tenant, void *arg);
/* vis_result.c */
extern void vis_result_finish(VisResult *r, const VisIdArray *bulk, MemoryContext cxt);
extern char *vis_source_label(VisResult *r, const VisSource *src);
extern bool vis_rule_adds_users(VisRuleId rule);
extern bool vis_rule_adds_content(VisRuleId rule);
extern bool vis_rule_on_group(VisRuleId rule);
extern bool vis_result_grant_sees(VisResult *r, int64 content_id,
								  bool has_context, int64 context_id);
extern VisGrant *vis_result_grant(VisResult *r, int64 content_id);
extern int64 *vis_result_user_ids(VisResult *r, int *n);
extern int64 *vis_result_content_ids(VisResult *r, int *n);
extern const int64 *vis_result_ranges(VisResult *r, VisSide side, int *n);

/* explain_visibility (vis_explain.c): a list of VisExplainRow */
typedef struct VisExplainRow
{
	const char *part;			/* user, content, context, result */
	bool		granted;
	char	   *reason;
} VisExplainRow;

extern List *vis_explain_rows(int64 principal, int64 user_id, int64 content_id,
							  bool has_context, int64 context_id);

/* ---------------------------------------------------------------------
 * The per-backend cache (vis_cache.c)
 * ---------------------------------------------------------------------
 */
extern void vis_cache_init(void);

/* ---------------------------------------------------------------------
 * The policies' predicate (vis_policy.c), beneath the executor guard, the
 * planner support and the range scan
 * ---------------------------------------------------------------------
 */
typedef enum VisStoreTable
{
	VIS_STORE_NONE = -1,
	VIS_STORE_PROGRESS = 0,		/* can_view_stats(p, user_id, content_id, context_group_id) */
	VIS_STORE_ENROLLMENTS = 1,	/* can_view_stats(p, user_id, content_id) */
	VIS_STORE_USERS = 2			/* can_view_user(p, user_id) */
} VisStoreTable;

extern void vis_policy_init(void);
extern VisStoreTable vis_store_table(Oid relid);
struct FuncExpr;
extern bool vis_is_principal_call(Node *node);
extern bool vis_plan_calls_principal(PlannedStmt *plan);
extern struct FuncExpr *vis_policy_call(Node *clause, VisStoreTable table, Oid relid,
										Index scanrelid, List *indextlist);
extern VisResult *vis_plan_time_result(Node *arg);

/* ---------------------------------------------------------------------
 * The cost model's inputs (vis_plancost.c; its constants: vis_plancost.h)
 * ---------------------------------------------------------------------
 */
struct RelOptInfo;
struct IndexOptInfo;
struct Bitmapset;
extern double vis_plan_share(double members, const char *relname);
extern bool vis_has_equality(struct RelOptInfo *rel, Oid opfamily, Node *column);
extern struct Bitmapset *vis_rel_attrs(struct RelOptInfo *rel);
extern bool vis_index_holds(struct IndexOptInfo *index, struct Bitmapset *attrs);
extern bool vis_index_covers(struct IndexOptInfo *index);

/* ---------------------------------------------------------------------
 * The range scan (vis_rangescan.c), the planner support (vis_planner.c)
 * and the executor guard (vis_exec.c)
 * ---------------------------------------------------------------------
 */
extern bool vis_enable_rangescan;
extern void vis_rangescan_init(void);
struct PlannerInfo;
extern bool vis_rangescan_offered(struct PlannerInfo *root, struct IndexOptInfo *index,
								  Node *policy);
struct Plan;
extern bool vis_is_rangescan(struct Plan *plan);

extern bool vis_row_shortcut;
extern void vis_exec_init(void);

/* ---------------------------------------------------------------------
 * The per-backend cache (vis_cache.c), continued
 * ---------------------------------------------------------------------
 */
extern VisResult *vis_cache_get(int64 principal, bool *kept);
extern uint64 vis_cache_generation(void);
extern MemoryContext vis_cache_context(void);
extern int	vis_cache_max_principals;
extern int	vis_cache_memory_kb;
extern uint64 vis_shortcut_scans;
extern uint64 vis_inline_scans;

/* ---------------------------------------------------------------------
 * Sharing cached entries with parallel workers (vis_share.c), and the
 * cache's side of it (vis_cache.c)
 * ---------------------------------------------------------------------
 */
struct dsm_segment;
extern struct dsm_segment *vis_share_create(VisResult *r);
extern void vis_share_stale(struct dsm_segment *seg);
extern void vis_share_drop(struct dsm_segment *seg, int64 principal);
extern VisResult *vis_share_attach(int64 principal, MemoryContext cxt);
extern VisResult *vis_cache_get_rows(int64 principal, bool *kept);
extern void vis_cache_share(int64 principal);
extern char *vis_share_flatten(VisResult *r, keyset_hash *keys, Size *len);
extern bool vis_share_reads(const char *blob, VisKey key);
extern VisResult *vis_share_result(const char *blob, MemoryContext cxt);

/* ---------------------------------------------------------------------
 * The server's shared cache (vis_shcache.c), when the library is preloaded
 * ---------------------------------------------------------------------
 */
typedef struct VisShRef
{
	int			slot;			/* -1: none */
	uint64		serial;			/* the slot's entry when it was found */
} VisShRef;

typedef enum VisShPublish
{
	VIS_SH_PUBLISHED,			/* the entry is shared: use *blob */
	VIS_SH_STALE,				/* a change raced the build: use it once */
	VIS_SH_NO_ROOM				/* keep it privately */
} VisShPublish;

typedef struct VisShStats
{
	int64		bytes;
	int64		entries;
	int64		hits;
	int64		builds;
	int64		duplicate_builds;
	int64		evictions;
	int64		invalidations;
} VisShStats;

extern int	vis_shared_cache_memory_kb;
extern void vis_shcache_request(void);
extern bool vis_shcache_usable(void);
extern const char *vis_shcache_find(int64 principal, Oid store, VisShRef *ref);
extern const char *vis_shcache_repin(VisShRef *ref);
extern void vis_shcache_build_start(void);
extern VisShPublish vis_shcache_publish(int64 principal, Oid store, const char *blob,
										Size len, keyset_hash *keys, VisShRef *ref,
										const char **shared);
extern void vis_shcache_unpin_all(void);
extern bool vis_shcache_stats(VisShStats *s);
/* vis_result_has_user tells whether user_id is in U(p) */
static inline bool
vis_result_has_user(VisResult *r, int64 user_id)
{
	if (vis_bitmap_built(&r->user_bits))
		return vis_bitmap_test(&r->user_bits, user_id);
	return vis_idset_has(r->users, user_id);
}

/* vis_result_has_group tells whether group_id is in p's group scope */
static inline bool
vis_result_has_group(VisResult *r, int64 group_id)
{
	if (vis_bitmap_built(&r->group_bits))
		return vis_bitmap_test(&r->group_bits, group_id);
	return r->groups != NULL && vis_idset_has(r->groups, group_id);
}

/*
 * vis_result_sees applies the row rule of doc/rules.md, "The rules": the user is in U(p)
 * and some grant of the content is unrestricted or lists the context group.
 * Inline, for the per-row checks (can_view_stats, vis_exec.c): the common
 * case is two bit tests.
 */
static inline bool
vis_result_sees(VisResult *r, int64 user_id, int64 content_id,
				bool has_context, int64 context_id)
{
	if (!vis_result_has_user(r, user_id))
		return false;
	if (vis_bitmap_built(&r->open_bits))
	{
		if (vis_bitmap_test(&r->open_bits, content_id))
			return true;
		if (!r->any_restricted || !has_context)
			return false;
	}
	return vis_result_grant_sees(r, content_id, has_context, context_id);
}

extern void vis_cache_statement_start(void);
extern uint64 vis_cache_epoch;

/* ---------------------------------------------------------------------
 * Principals (vis_principal.c) and the settings (vis_settings.c)
 * ---------------------------------------------------------------------
 */
extern char *vis_principal_setting;
extern bool vis_allow_session_principal;
struct config_generic;
extern void vis_principal_setting_defined(struct config_generic *record);
extern bool vis_principal_transaction_scoped(void);

/* vis_settings.c: every setting */
extern void vis_settings_init(void);
extern bool vis_current_principal(int64 *principal);
extern bool vis_current_principal_quiet(int64 *principal);
extern bool vis_check_principal_arg(int64 principal);
extern uint64 vis_principal_epoch;
extern void *vis_principal_stack(void);
extern bool vis_personal_data(void);
extern void vis_require_trusted(const char *what);
extern bool vis_role_bound_or_trusted(Oid role);

/* ---------------------------------------------------------------------
 * The audit trail (vis_audit.c)
 * ---------------------------------------------------------------------
 */
#define VIS_AUDIT_OFF 0
#define VIS_AUDIT_STATEMENTS 1
extern int	vis_audit;
extern void vis_audit_init(void);

#endif							/* LMS_VISIBILITY_H */
