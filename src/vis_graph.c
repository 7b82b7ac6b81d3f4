/*-------------------------------------------------------------------------
 *
 * vis_graph.c
 *	  The tenant's structure in memory: the group tree with its subgroup
 *	  closures S*(g) and public connections conn(S), and the content tree
 *	  (sessions of paths, slots of classrooms).  The id sets, id arrays,
 *	  bitmaps and the results' representation are in vis_result.c.
 *
 * IDENTIFICATION
 *	  src/vis_graph.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "vis_engine.h"

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
	c->title = !tl->labels ? NULL : nulls[4] ? pstrdup("") : TextDatumGetCString(values[4]);
	memset(&c->children, 0, sizeof(VisIdArray));
	pfree(kind);
}

/*
 * vis_tenant_load reads one tenant's setting, groups and content into the
 * current memory context, links both trees and lists what each group owns,
 * so that a principal's rules read only what they reach.  Nodes whose parent or owner is in another tenant are treated as
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
	"owner_group_id", "title"};
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
	vis_scan("content", "content_tenant_idx", tenant_id, 5, content_cols, snap,
			 load_content_row, &tl);

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

typedef struct UsersFound
{
	int64		tenant_id;
	VisIdSet   *users;			/* the users found in the tenant */
} UsersFound;

static void
user_in_tenant_row(void *arg, Datum *values, bool *nulls)
{
	UsersFound *uf = (UsersFound *) arg;

	if (DatumGetInt64(values[1]) == uf->tenant_id)
		vis_idset_add(uf->users, DatumGetInt64(values[0]));
}

static void
tenant_user_row(void *arg, Datum *values, bool *nulls)
{
	vis_idarray_push((VisIdArray *) arg, DatumGetInt64(values[0]));
}

/* drop_tenant_users frees the tenant's users read in full */
static void
drop_tenant_users(VisTenant *t)
{
	if (t->users_cxt != NULL)
		MemoryContextDelete(t->users_cxt);
	t->users_cxt = NULL;
	t->users = NULL;
	t->users_live = false;
	t->users_probed = 0;
}

/*
 * read_tenant_users reads every user of t's tenant into tu, as a bitmap
 * when they are dense enough for one, else as a set.  The bitmap is kept
 * in t when no change of the tenant's users arrived since the build took
 * its snapshot and the snapshot holds no change of this transaction's.
 */
static void
read_tenant_users(VisTenant *t, Snapshot snap, VisTenantUsers *tu)
{
	static const char *const user_cols[] = {"user_id"};
	MemoryContext cxt = AllocSetContextCreate(t->cxt, "lms_visibility tenant users",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = CurrentMemoryContext;
	VisIdArray	all = {0};
	VisRecorder rec;
	VisBitmap  *bm;
	bool		fresh;
	int			i;

	vis_record_start(&rec, old);
	t->users_key = vis_scan_key("users", "users_tenant_idx", 1, user_cols, t->tenant_id);
	vis_record_own(&rec, t->users_key);
	vis_scan_keys("users", "users_tenant_idx", &t->tenant_id, 1, 1, user_cols, snap,
				  tenant_user_row, &all, false);
	fresh = vis_record_stop(&rec);

	bm = MemoryContextAllocZero(cxt, sizeof(VisBitmap));
	if (!vis_bitmap_build(bm, all.ids, all.n, cxt))
	{
		tu->found = vis_idset_create(old, all.n);
		for (i = 0; i < all.n; i++)
			vis_idset_add(tu->found, all.ids[i]);
		MemoryContextDelete(cxt);
	}
	else if (fresh && IsMVCCSnapshot(snap) &&
			 !TransactionIdIsValid(GetTopTransactionIdIfAny()))
	{
		t->users = bm;
		tu->known = bm;
		t->users_cxt = cxt;
		t->users_live = true;
		t->users_xmax = snap->xmax;
		t->users_probed = 0;
	}
	else
	{
		/*
		 * for this build only: freed with its memory; the next builds look
		 * their users up one by one again until that costs another read in
		 * full (not a read in full each: a transaction that wrote and then
		 * builds many principals, as lms.preview() does)
		 */
		MemoryContextSetParent(cxt, old);
		tu->known = bm;
		t->users_probed = 0;
	}
	if (all.ids != NULL)
		pfree(all.ids);
}

/*
 * vis_tenant_users_among tells which of ids are users of t's tenant (it
 * may tell of others of the tenant too): vis_is_tenant_user then answers.
 *
 * The tenant's users read in full and kept in t answer for the ids among
 * them, as long as no user of the tenant was added or deleted since and
 * the snapshot sees every transaction the read saw; the others are looked
 * up one by one, in one index scan.  The tenant is read in full once the
 * ids looked up one by one would have cost as much (measured at 1,000,000
 * users: 0.09 us a user read in full, 1 us a user looked up; the store's
 * users bound the tenant's from above): the member lists of a large
 * tenant's group admins, read one subtree at a time, then cost one read
 * of the tenant instead of a lookup of each member.
 *
 * Neither read is recorded: the ids come from rows read in the same
 * snapshot, whose users that snapshot holds too, a user's tenant never
 * changes (lms._tenant_immutable), and deleting a user deletes the rows
 * that linked it, whose keys the build did read.
 */
VisTenantUsers
vis_tenant_users_among(VisTenant *t, const int64 *ids, int n, Snapshot snap)
{
	static const char *const user_tenant_cols[] = {"user_id", "tenant_id"};
	VisTenantUsers tu = {NULL, NULL};
	UsersFound	uf;
	VisIdArray	unknown = {0};
	int			i;

	if (n == 0)
		return tu;
	if (t->users != NULL && !t->users_live)
		drop_tenant_users(t);
	if (t->users == NULL && (t->users_probed + n) * 10.0 > vis_reltuples("users"))
	{
		read_tenant_users(t, snap, &tu);
		return tu;
	}
	if (t->users != NULL && IsMVCCSnapshot(snap) &&
		TransactionIdFollowsOrEquals(snap->xmin, t->users_xmax))
	{
		tu.known = t->users;
		for (i = 0; i < n; i++)
			if (!vis_bitmap_test(t->users, ids[i]))
				vis_idarray_push(&unknown, ids[i]);
	}
	else
	{
		/* nothing kept, or an older snapshot that may not see them all */
		unknown.ids = (int64 *) ids;
		unknown.n = n;
	}
	uf.tenant_id = t->tenant_id;
	uf.users = tu.found = vis_idset_create(CurrentMemoryContext, Max(unknown.n, 16));
	if (unknown.n == 0)
		return tu;
	t->users_probed += unknown.n;
	vis_scan_keys("users", "users_pkey", unknown.ids, unknown.n, 2, user_tenant_cols, snap,
				  user_in_tenant_row, &uf, false);
	return tu;
}

/* vis_is_tenant_user tells whether vis_tenant_users_among found id */
bool
vis_is_tenant_user(const VisTenantUsers *tu, int64 id)
{
	if (tu->known != NULL && vis_bitmap_test(tu->known, id))
		return true;
	return tu->found != NULL && vis_idset_has(tu->found, id);
}

/*
 * vis_tenant_users_changed drops the tenant's users read in full when key
 * is the fact they were read from (a user of the tenant added or deleted)
 * and tells whether there were any.  It runs inside invalidation
 * callbacks: no catalog access, no allocation, so they are only marked,
 * and freed by the next vis_tenant_users_among.
 */
bool
vis_tenant_users_changed(VisTenant *t, VisKey key)
{
	if (!t->users_live || t->users_key != key)
		return false;
	t->users_live = false;
	return true;
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
