/*-------------------------------------------------------------------------
 *
 * vis_graph.c
 *	  The tenant's structure in memory: id sets, the group tree with its
 *	  subgroup closures S*(g) and public connections conn(S), and the
 *	  content tree (sessions of paths, slots of classrooms).  The bitmaps
 *	  and the results' representation are in vis_result.c.
 *
 * IDENTIFICATION
 *	  src/vis_graph.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "lms_visibility.h"

/* splitmix64's finalizer: a cheap, well-mixed hash of a 64-bit id */
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

#define SH_PREFIX groupmap
#define SH_ELEMENT_TYPE VisGroup
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) vis_hash64(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE extern
#define SH_DEFINE
#include "lib/simplehash.h"

#define SH_PREFIX contentmap
#define SH_ELEMENT_TYPE VisContent
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) vis_hash64(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE extern
#define SH_DEFINE
#include "lib/simplehash.h"

#define SH_PREFIX idlistmap
#define SH_ELEMENT_TYPE VisIdList
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) vis_hash64(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE extern
#define SH_DEFINE
#include "lib/simplehash.h"

const char *const vis_kind_names[] = {
	"unknown", "path", "path_session", "course", "classroom", "classroom_slot"
};

/*
 * vis_kind_from_text maps a content.kind value to its enum.
 */
VisKind
vis_kind_from_text(const char *s)
{
	int			k;

	for (k = KIND_PATH; k <= KIND_CLASSROOM_SLOT; k++)
		if (strcmp(s, vis_kind_names[k]) == 0)
			return (VisKind) k;
	return KIND_NONE;
}

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

typedef struct TenantLoad
{
	VisTenant  *t;
	bool		labels;			/* load group names and content titles */
} TenantLoad;

static void
load_group_row(void *arg, Datum *values, bool *nulls)
{
	TenantLoad *tl = (TenantLoad *) arg;
	VisGroup   *g;
	bool		found;

	g = groupmap_insert(tl->t->groups, DatumGetInt64(values[0]), &found);
	g->parent = nulls[1] ? 0 : DatumGetInt64(values[1]);
	g->name = !tl->labels ? NULL : nulls[2] ? pstrdup("") : TextDatumGetCString(values[2]);
	memset(&g->children, 0, sizeof(VisIdArray));
	memset(&g->owned, 0, sizeof(VisIdArray));
}

static void
load_content_row(void *arg, Datum *values, bool *nulls)
{
	TenantLoad *tl = (TenantLoad *) arg;
	VisContent *c;
	bool		found;
	char	   *kind = TextDatumGetCString(values[1]);

	c = contentmap_insert(tl->t->content, DatumGetInt64(values[0]), &found);
	c->kind = vis_kind_from_text(kind);
	c->parent = nulls[2] ? 0 : DatumGetInt64(values[2]);
	c->owner = nulls[3] ? 0 : DatumGetInt64(values[3]);
	c->author = nulls[4] ? 0 : DatumGetInt64(values[4]);
	c->title = !tl->labels ? NULL : nulls[5] ? pstrdup("") : TextDatumGetCString(values[5]);
	memset(&c->children, 0, sizeof(VisIdArray));
	pfree(kind);
}

/*
 * vis_tenant_load reads one tenant's setting, groups and content into the
 * current memory context, links both trees and lists what each group owns
 * and each user authored, so that a principal's rules read only what they
 * reach.  Nodes whose parent or owner is in another tenant are treated as
 * having none: nothing crosses tenants.  Labels (names and titles) are
 * for explain_visibility's sentences only.  The groups' members are read
 * later, as rules need them (vis_members.c), into the same context.
 */
VisTenant *
vis_tenant_load(int64 tenant_id, Snapshot snap, bool labels)
{
	static const char *const tenant_cols[] = {"extended_visibility"};
	static const char *const group_cols[] = {"group_id", "parent_group_id", "name"};
	static const char *const content_cols[] = {"content_id", "kind", "parent_content_id",
	"owner_group_id", "main_author_id", "title"};
	VisTenant  *t = palloc0(sizeof(VisTenant));
	TenantLoad	tl = {t, labels};
	Datum		values[1];
	bool		nulls[1];
	groupmap_iterator gi;
	contentmap_iterator ci;
	VisGroup   *g;
	VisContent *c;

	t->tenant_id = tenant_id;
	t->cxt = CurrentMemoryContext;
	if (vis_fetch_one("tenants", "tenants_pkey", tenant_id, 1, tenant_cols, snap,
					  values, nulls))
		t->extended = !nulls[0] && DatumGetBool(values[0]);

	t->groups = groupmap_create(CurrentMemoryContext, 64, NULL);
	vis_scan("groups", "groups_tenant_idx", tenant_id, 3, group_cols, snap,
			 load_group_row, &tl);
	t->content = contentmap_create(CurrentMemoryContext, 64, NULL);
	vis_scan("content", "content_tenant_idx", tenant_id, 6, content_cols, snap,
			 load_content_row, &tl);
	t->authored = idlistmap_create(CurrentMemoryContext, 16, NULL);

	/* link children only once all inserts are done: entries move on growth */
	groupmap_start_iterate(t->groups, &gi);
	while ((g = groupmap_iterate(t->groups, &gi)) != NULL)
	{
		VisGroup   *parent;

		if (g->parent == 0)
			continue;
		parent = groupmap_lookup(t->groups, g->parent);
		if (parent == NULL)
			g->parent = 0;
		else
			vis_idarray_push(&parent->children, g->id);
	}
	contentmap_start_iterate(t->content, &ci);
	while ((c = contentmap_iterate(t->content, &ci)) != NULL)
	{
		VisContent *parent;

		if (c->owner != 0)
		{
			VisGroup   *owner = groupmap_lookup(t->groups, c->owner);

			if (owner == NULL)
				c->owner = 0;
			else
				vis_idarray_push(&owner->owned, c->id);
		}
		if (c->author != 0)
		{
			bool		found;
			VisIdList  *l = idlistmap_insert(t->authored, c->author, &found);

			if (!found)
				memset(&l->ids, 0, sizeof(VisIdArray));
			vis_idarray_push(&l->ids, c->id);
		}
		if (c->parent == 0)
			continue;
		parent = contentmap_lookup(t->content, c->parent);
		if (parent == NULL)
			c->parent = 0;
		else
			vis_idarray_push(&parent->children, c->id);
	}
	return t;
}

typedef struct TenantUsers
{
	int64		tenant_id;
	VisIdSet   *users;			/* the users found in the tenant */
} TenantUsers;

static void
user_in_tenant_row(void *arg, Datum *values, bool *nulls)
{
	TenantUsers *tu = (TenantUsers *) arg;

	if (DatumGetInt64(values[1]) == tu->tenant_id)
		vis_idset_add(tu->users, DatumGetInt64(values[0]));
}

static void
tenant_user_row(void *arg, Datum *values, bool *nulls)
{
	vis_idset_add((VisIdSet *) arg, DatumGetInt64(values[0]));
}

/*
 * vis_tenant_users_among returns the set of those of ids that are users of
 * t's tenant (it may hold others of the tenant too).  Many ids are checked
 * against the tenant's users read in full, few one by one, in one index
 * scan (measured: 0.2 us against 0.7 us a user; the store's users bound
 * the tenant's from above).  Neither read is recorded: the ids come from
 * rows read in the same snapshot, whose users that snapshot holds too, a
 * user's tenant never changes (lms._tenant_immutable), and deleting a user
 * deletes the rows that linked it, whose keys the build did read.
 */
VisIdSet *
vis_tenant_users_among(VisTenant *t, const int64 *ids, int n, Snapshot snap)
{
	static const char *const user_cols[] = {"user_id"};
	static const char *const user_tenant_cols[] = {"user_id", "tenant_id"};
	TenantUsers tu = {t->tenant_id, vis_idset_create(CurrentMemoryContext, n)};

	if (n * 7.0 > vis_reltuples("users") * 2.0)
		vis_scan_keys("users", "users_tenant_idx", &t->tenant_id, 1, 1, user_cols, snap,
					  tenant_user_row, tu.users, false);
	else
		vis_scan_keys("users", "users_pkey", ids, n, 2, user_tenant_cols, snap,
					  user_in_tenant_row, &tu, false);
	return tu.users;
}

/*
 * vis_subtree returns S*(root): root and all its descendants in the
 * tenant, as a set and, when out is given, as an array in BFS order.
 * An unknown root gives the empty set.
 */
VisIdSet *
vis_subtree(VisTenant *t, int64 root, VisIdArray *out)
{
	VisIdSet   *set = vis_idset_create(CurrentMemoryContext, 16);
	VisIdArray	queue = {0};
	int			i;

	if (groupmap_lookup(t->groups, root) == NULL)
		return set;
	vis_idset_add(set, root);
	vis_idarray_push(&queue, root);
	for (i = 0; i < queue.n; i++)
	{
		VisGroup   *g = groupmap_lookup(t->groups, queue.ids[i]);
		int			j;

		for (j = 0; j < g->children.n; j++)
			if (vis_idset_add(set, g->children.ids[j]))
				vis_idarray_push(&queue, g->children.ids[j]);
	}
	if (out)
		*out = queue;
	return set;
}

typedef struct ConnCollect
{
	VisTenant  *t;
	VisIdSet   *s;
	VisIdSet   *conn;
	VisIdArray *out;
} ConnCollect;

static void
collect_connection(void *arg, Datum *values, bool *nulls)
{
	ConnCollect *cc = (ConnCollect *) arg;
	int64		other = DatumGetInt64(values[0]);

	if (vis_idset_has(cc->s, other) || groupmap_lookup(cc->t->groups, other) == NULL)
		return;
	if (vis_idset_add(cc->conn, other) && cc->out)
		vis_idarray_push(cc->out, other);
}

/*
 * vis_connected returns conn(S): the groups of the tenant publicly connected
 * to a group of S, not themselves in S.  A connection is one row and works
 * both ways, so both columns are searched.
 */
VisIdSet *
vis_connected(VisTenant *t, VisIdSet *s, VisIdArray *s_arr, VisIdArray *out, Snapshot snap)
{
	static const char *const to_cols[] = {"connected_group_id"};
	static const char *const from_cols[] = {"group_id"};
	ConnCollect cc;
	int			i;

	cc.t = t;
	cc.s = s;
	cc.conn = vis_idset_create(CurrentMemoryContext, 16);
	cc.out = out;
	for (i = 0; i < s_arr->n; i++)
	{
		vis_scan("group_connections", "group_connections_pkey", s_arr->ids[i],
				 1, to_cols, snap, collect_connection, &cc);
		vis_scan("group_connections", "group_connections_connected_idx", s_arr->ids[i],
				 1, from_cols, snap, collect_connection, &cc);
	}
	return cc.conn;
}

/*
 * vis_group_label names a group for messages: group 17 (Sales).
 */
const char *
vis_group_label(VisTenant *t, int64 group_id)
{
	VisGroup   *g = groupmap_lookup(t->groups, group_id);

	if (g == NULL || g->name == NULL)
		return psprintf("group " INT64_FORMAT, group_id);
	return psprintf("group " INT64_FORMAT " (%s)", group_id, g->name);
}

/*
 * vis_content_label names a content item for messages: course 5 (Safety).
 */
const char *
vis_content_label(VisTenant *t, int64 content_id)
{
	VisContent *c = contentmap_lookup(t->content, content_id);

	if (c == NULL || c->title == NULL)
		return psprintf("content " INT64_FORMAT, content_id);
	return psprintf("%s " INT64_FORMAT " (%s)", vis_kind_names[c->kind], content_id, c->title);
}
