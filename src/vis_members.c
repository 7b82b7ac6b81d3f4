/*-------------------------------------------------------------------------
 *
 * vis_members.c
 *	  The members of a tenant's groups, read the first time a principal's
 *	  rules need them and kept with the tenant's structure, so that the
 *	  tenant's group roles share them: a group admin's U(p) is then the
 *	  union of lists already in memory, not a scan of every membership of
 *	  the subtree and of every member's tenant.
 *
 *	  A list holds the group's members who are users of the tenant: the
 *	  store's triggers refuse other links, and rows loaded with triggers off
 *	  must not open a door either.  A user's tenant never changes
 *	  (lms._tenant_immutable), and deleting a user deletes its memberships,
 *	  so a list stays right until a membership of its group changes.  That
 *	  change's key marks only that list stale (vis_members_changed, from the
 *	  cache's invalidation callback), and the next build that needs it reads
 *	  that group again: a stream of membership changes costs a scan of one
 *	  group each, not a reload of the tenant.
 *
 * IDENTIFICATION
 *	  src/vis_members.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/memutils.h"

#include "vis_engine.h"

#define SH_PREFIX memberlist
#define SH_ELEMENT_TYPE VisMembers
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) ((uint64) (key) ^ ((uint64) (key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE extern
#define SH_DEFINE
#include "lib/simplehash.h"

static const char *const member_cols[] = {"user_id", "group_id"};

/* the rows of a load: members by group, before the tenant check */
typedef struct MemberLoad
{
	VisIdArray	ids;			/* every member read (a user in two groups twice) */
	memberlist_hash *read;		/* group -> members read */
} MemberLoad;

static void
member_row(void *arg, Datum *values, bool *nulls)
{
	MemberLoad *ml = (MemberLoad *) arg;
	int64		uid = DatumGetInt64(values[0]);
	bool		found;
	VisMembers *m = memberlist_insert(ml->read, DatumGetInt64(values[1]), &found);

	if (!found)
		memset(&m->users, 0, sizeof(VisIdArray));
	vis_idarray_push(&m->users, uid);
	vis_idarray_push(&ml->ids, uid);
}

/*
 * load reads the members of groups (none of them read yet, or stale) in
 * one index scan and stores them in t's lists, live when no change of
 * theirs arrived while they were read.
 */
static void
load(VisTenant *t, const VisIdArray *groups, Snapshot snap)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "lms_visibility members",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(scratch);
	MemberLoad	ml;
	VisRecorder rec;
	VisTenantUsers tenant_users;
	VisKey	   *keys;
	bool		fresh;
	int			i;

	memset(&ml.ids, 0, sizeof(VisIdArray));
	ml.read = memberlist_create(scratch, Max(groups->n, 8), NULL);
	vis_record_start(&rec, scratch);
	vis_scan_keys("group_members", "group_members_pkey", groups->ids, groups->n, 2,
				  member_cols, snap, member_row, &ml, true);
	fresh = vis_record_stop(&rec);
	tenant_users = vis_tenant_users_among(t, ml.ids.ids, ml.ids.n, snap);
	keys = palloc(sizeof(VisKey) * groups->n);
	for (i = 0; i < groups->n; i++)
		keys[i] = vis_scan_key("group_members", "group_members_pkey", 2, member_cols,
							   groups->ids[i]);

	MemoryContextSwitchTo(t->cxt);
	for (i = 0; i < groups->n; i++)
	{
		int64		g = groups->ids[i];
		VisMembers *read = memberlist_lookup(ml.read, g);
		VisMembers *m;
		bool		found;
		int			j;

		m = memberlist_insert(t->members, g, &found);
		if (found && m->users.ids != NULL)
			pfree(m->users.ids);
		memset(&m->users, 0, sizeof(VisIdArray));
		m->key = keys[i];
		m->live = fresh;
		keyset_insert(t->member_keys, m->key, &found);
		for (j = 0; read != NULL && j < read->users.n; j++)
			if (vis_is_tenant_user(&tenant_users, read->users.ids[j]))
				vis_idarray_push(&m->users, read->users.ids[j]);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);
}

/*
 * vis_group_members returns the member lists of groups, in their order,
 * reading those not in memory.  The build under way depends on each
 * list's key, whether it was read now or before.  The lists stay valid
 * until the next call on t.
 */
VisMembers **
vis_group_members(VisTenant *t, const VisIdArray *groups, Snapshot snap)
{
	VisMembers **lists = palloc(sizeof(VisMembers *) * Max(groups->n, 1));
	VisIdArray	missing = {0};
	int			i;

	if (t->members == NULL)
	{
		t->members = memberlist_create(t->cxt, 64, NULL);
		t->member_keys = keyset_create(t->cxt, 64, NULL);
	}
	for (i = 0; i < groups->n; i++)
	{
		VisMembers *m = memberlist_lookup(t->members, groups->ids[i]);

		if (m == NULL || !m->live)
			vis_idarray_push(&missing, groups->ids[i]);
		else
			vis_record_add(m->key);
	}
	if (missing.n > 0)
		load(t, &missing, snap);
	/* looked up only now: inserting may have moved the entries */
	for (i = 0; i < groups->n; i++)
		lists[i] = memberlist_lookup(t->members, groups->ids[i]);
	return lists;
}

/*
 * vis_members_changed marks stale the lists read from the fact of key and
 * tells whether there were any.  It runs inside invalidation callbacks: no
 * catalog access, no allocation.
 */
bool
vis_members_changed(VisTenant *t, VisKey key)
{
	memberlist_iterator it;
	VisMembers *m;
	bool		changed = false;

	if (t->member_keys == NULL || keyset_lookup(t->member_keys, key) == NULL)
		return false;
	memberlist_start_iterate(t->members, &it);
	while ((m = memberlist_iterate(t->members, &it)) != NULL)
		if (m->key == key && m->live)
		{
			m->live = false;
			changed = true;
		}
	return changed;
}
