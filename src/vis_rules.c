/*-------------------------------------------------------------------------
 *
 * vis_rules.c
 *	  The visibility rules of doc/rules.md, "The rules" as a table: one entry per
 *	  role or relation, saying how it adds users (4.1), unrestricted
 *	  content (4.2) and context-restricted content (4.3).  vis_compute
 *	  applies every entry a principal holds and unions the results.
 *
 * IDENTIFICATION
 *	  src/vis_rules.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

#include "vis_engine.h"


typedef struct VisBuild
{
	VisResult  *r;
	VisTenant  *t;
	Snapshot	snap;
	VisWitness *w;
	MemoryContext rescxt;		/* lifetime of the result */
	const VisSource *src;		/* the source being applied */
	VisIdArray	unchecked;		/* users of U(p) whose tenant is not known */
	VisIdArray	bulk;			/* users of the tenant for U(p), not in the set */
} VisBuild;

typedef void (*VisApplyFn) (VisBuild *b, const VisSource *src);

/* Where a role or relation is stored, and so what its object is */
typedef enum VisScope
{
	SCOPE_TENANT,				/* a role of tenant_roles: the principal's tenant */
	SCOPE_GROUP,				/* a role of group_roles: a group */
	SCOPE_RELATION				/* a relation (manager, trainer, ...): its own table */
} VisScope;

/* The groups a role puts in the principal's group scope (doc/rules.md, "The dimensions and the principal") */
typedef enum VisGroupScope
{
	GROUPS_NONE,				/* none */
	GROUPS_TENANT,				/* every group of the tenant */
	GROUPS_SUBTREE,				/* the role's group and its descendants */
	GROUPS_GROUP				/* the role's group itself */
} VisGroupScope;

/*
 * Which teams a tenant role may change through plain SQL
 * (doc/team-management.md); lms._team_role() and the team policies apply it,
 * and test/25 holds them against this field.
 */
typedef enum VisTeams
{
	TEAMS_NONE,					/* none */
	TEAMS_ALL,					/* every group of the tenant and its members */
	TEAMS_CREATED				/* groups at the top level or below groups it
								 * created, and those groups' members */
} VisTeams;

/* Which owned content grant_owned grants, besides the owned items */
typedef struct OwnedScope
{
	bool		path_sessions;	/* the sessions of owned paths */
	bool		classroom_slots;	/* the slots of owned classrooms */
	bool		sessions_only;	/* of the owned items, path sessions only */
} OwnedScope;

static const OwnedScope OWNED_ITEMS = {false, false, false};
static const OwnedScope OWNED_WITH_SESSIONS = {true, false, false};
static const OwnedScope OWNED_WITH_SESSIONS_AND_SLOTS = {true, true, false};
static const OwnedScope OWNED_SESSIONS = {false, false, true};

/*
 * What a role held on a group grants of its groups' content (4.2); its
 * groups are those of its group scope: the role's group and its
 * descendants, or the group alone.
 */
typedef struct GroupContent
{
	const OwnedScope *owned;	/* content the groups own, and what with it */
	bool		catalog;		/* courses in the groups' catalogs */
	bool		legacy;			/* content with a legacy enrolment of a group */
	bool		assigned;		/* content a group assigned to a learner */
} GroupContent;

typedef struct VisRule
{
	VisRuleId	id;
	const char *name;			/* the role or relation, as doc/rules.md names it */
	VisScope	scope;
	bool		tenant_wide;	/* every user and all content of the tenant */
	VisApplyFn	users;			/* 4.1: users added to U(p) */
	VisApplyFn	content;		/* 4.2: unrestricted grants */
	VisApplyFn	extended;		/* 4.3: restricted grants, extended tenants only */
	VisGroupScope groups;		/* 6: the rows of lms.groups it shows */
	GroupContent of_groups;		/* with content = content_groups */
	VisTeams	teams;			/* 9: the teams it may change */
	VisKind		object_kind;	/* a relation held on content: its kind (none: any) */
} VisRule;

static const VisRule vis_rules[RULE_COUNT];

/* ------------------------------------------------------------------------
 * Recording grants
 * ------------------------------------------------------------------------
 */

/* reason records for explain_visibility which role granted, and how */
static VisWhy *
reason(VisBuild *b, VisVia via, int64 object)
{
	VisWhy	   *why = palloc(sizeof(VisWhy));

	why->src = *b->src;
	why->via = via;
	why->object = object;
	return why;
}

/*
 * add_user adds uid to U(p), recording why when explain asks about uid.
 * Users found otherwise than among the tenant's users or the member lists
 * (which hold users of the tenant only) are checked by drop_foreign_users.
 */
static void
add_user(VisBuild *b, int64 uid, VisVia via, int64 object)
{
	if (vis_idset_add(b->r->users, uid) && via != VIA_MEMBER && via != VIA_TENANT)
		vis_idarray_push(&b->unchecked, uid);
	if (b->w && b->w->user_id == uid)
		b->w->user_reasons = lappend(b->w->user_reasons, reason(b, via, object));
}

/*
 * grant adds content cid to C(p): unrestricted when ctx is NULL, otherwise
 * restricted to the context groups of ctx.  Content outside the tenant is
 * never granted.
 */
static void
grant(VisBuild *b, int64 cid, VisIdSet *ctx, VisVia via, int64 object)
{
	VisGrant   *g;
	bool		found;
	int			i;

	if (contentmap_lookup(b->t->content, cid) == NULL)
		return;
	g = grantmap_insert(b->r->grants, cid, &found);
	if (!found)
	{
		g->unrestricted = false;
		g->nctx = 0;
		g->maxctx = 0;
		g->ctx = NULL;
	}
	if (b->w && b->w->content_id == cid)
	{
		if (ctx == NULL)
			b->w->content_reasons = lappend(b->w->content_reasons, reason(b, via, object));
		else
		{
			b->w->restricted_reasons = lappend(b->w->restricted_reasons, reason(b, via, object));
			b->w->restricted_sets = lappend(b->w->restricted_sets, ctx);
		}
	}
	if (ctx == NULL)
	{
		g->unrestricted = true;
		return;
	}
	for (i = 0; i < g->nctx; i++)
		if (g->ctx[i] == ctx)
			return;
	if (g->nctx >= g->maxctx)
	{
		g->maxctx = Max(2, g->maxctx * 2);
		if (g->ctx == NULL)
			g->ctx = MemoryContextAlloc(b->rescxt, sizeof(VisIdSet *) * g->maxctx);
		else
			g->ctx = repalloc(g->ctx, sizeof(VisIdSet *) * g->maxctx);
	}
	g->ctx[g->nctx++] = ctx;
}

/* grant_path grants c and, for a path, its sessions */
static void
grant_path(VisBuild *b, VisContent *c, VisIdSet *ctx, VisVia via, int64 object)
{
	int			i;

	grant(b, c->id, ctx, via, object);
	if (c->kind != KIND_PATH)
		return;
	for (i = 0; i < c->children.n; i++)
		grant(b, c->children.ids[i], ctx, VIA_SESSION_OF, c->id);
}

/* ------------------------------------------------------------------------
 * Scans over group sets
 * ------------------------------------------------------------------------
 */

typedef struct GroupScan
{
	VisBuild   *b;
	int64		group_id;		/* the group of the row */
	VisIdSet   *ctx;
	int			natts;			/* the group id is column natts - 1 */
	VisRowFn	fn;
} GroupScan;

static void
group_row(void *arg, Datum *values, bool *nulls)
{
	GroupScan  *gs = (GroupScan *) arg;

	gs->group_id = DatumGetInt64(values[gs->natts - 1]);
	gs->fn(gs, values, nulls);
}

/*
 * scan_groups reads the rows of every group of groups in one index scan
 * keyed by the group id (the last of cols), calling fn with a GroupScan
 * that names the row's group.
 */
static void
scan_groups(VisBuild *b, VisIdArray *groups, VisIdSet *ctx, const char *relname,
			const char *indexname, int natts, const char *const *cols, VisRowFn fn)
{
	GroupScan	gs = {b, 0, ctx, natts, fn};

	vis_scan_keys(relname, indexname, groups->ids, groups->n, natts, cols, b->snap,
				  group_row, &gs, true);
}

/*
 * add_members adds the members of groups, from the tenant's lists.  They
 * are users of the tenant, so unless explain asks why, they go to U(p) in
 * bulk, as they are: vis_result_finish sets their bits, where a hash set
 * of a subtree's 100,000 members would cost an insert each.
 */
static void
add_members(VisBuild *b, VisIdArray *groups)
{
	VisMembers **lists = vis_group_members(b->t, groups, b->snap);
	int			i,
				j;

	for (i = 0; i < groups->n; i++)
	{
		if (b->w == NULL)
			vis_idarray_append(&b->bulk, lists[i]->users.ids, lists[i]->users.n);
		else
			for (j = 0; j < lists[i]->users.n; j++)
				add_user(b, lists[i]->users.ids[j], VIA_MEMBER, lists[i]->id);
	}
	pfree(lists);
}

static void
catalog_row(void *arg, Datum *values, bool *nulls)
{
	GroupScan  *gs = (GroupScan *) arg;
	int64		cid = DatumGetInt64(values[0]);
	VisContent *c = contentmap_lookup(gs->b->t->content, cid);

	/* catalog inclusion grants courses only */
	if (c != NULL && c->kind == KIND_COURSE)
		grant(gs->b, cid, gs->ctx, VIA_CATALOG, gs->group_id);
}

/* grant_catalog grants the courses in the catalogs of groups */
static void
grant_catalog(VisBuild *b, VisIdArray *groups, VisIdSet *ctx)
{
	static const char *const cols[] = {"content_id", "group_id"};

	scan_groups(b, groups, ctx, "catalog_entries", "catalog_entries_pkey", 2, cols, catalog_row);
}

static void
legacy_row(void *arg, Datum *values, bool *nulls)
{
	GroupScan  *gs = (GroupScan *) arg;
	char	   *method = TextDatumGetCString(values[1]);

	/* an audience_builder enrolment never grants anything */
	if (strcmp(method, "legacy") == 0)
		grant(gs->b, DatumGetInt64(values[0]), NULL, VIA_LEGACY, gs->group_id);
	pfree(method);
}

/* grant_legacy grants content with a legacy enrolment of one of groups */
static void
grant_legacy(VisBuild *b, VisIdArray *groups)
{
	static const char *const cols[] = {"content_id", "method", "group_id"};

	scan_groups(b, groups, NULL, "group_enrollments", "group_enrollments_pkey", 3, cols, legacy_row);
}

static void
assigned_row(void *arg, Datum *values, bool *nulls)
{
	GroupScan  *gs = (GroupScan *) arg;

	grant(gs->b, DatumGetInt64(values[0]), NULL, VIA_ASSIGNED, gs->group_id);
}

/* grant_assigned grants content a group of groups assigned to a learner */
static void
grant_assigned(VisBuild *b, VisIdArray *groups)
{
	static const char *const cols[] = {"content_id", "assigned_by_group_id"};

	scan_groups(b, groups, NULL, "enrollments", "enrollments_assigned_idx", 2, cols, assigned_row);
}


/*
 * grant_owned grants the content owned by the groups of owners, with what
 * scope adds: it reads the owners' lists, not the tenant's content.
 */
static void
grant_owned(VisBuild *b, const VisIdArray *owners, VisIdSet *ctx, OwnedScope scope)
{
	int			i;

	for (i = 0; i < owners->n; i++)
	{
		VisGroup   *g = groupmap_lookup(b->t->groups, owners->ids[i]);
		int			k;

		if (g == NULL)
			continue;
		for (k = 0; k < g->owned.n; k++)
		{
			VisContent *c = contentmap_lookup(b->t->content, g->owned.ids[k]);
			int			j;

			if (scope.sessions_only && c->kind != KIND_PATH_SESSION)
				continue;
			grant(b, c->id, ctx, VIA_OWNED, c->owner);
			if (scope.path_sessions && c->kind == KIND_PATH)
				for (j = 0; j < c->children.n; j++)
					grant(b, c->children.ids[j], ctx, VIA_SESSION_OF, c->id);
			if (scope.classroom_slots && c->kind == KIND_CLASSROOM)
				for (j = 0; j < c->children.n; j++)
					grant(b, c->children.ids[j], ctx, VIA_SLOT_OF, c->id);
		}
	}
}

static VisIdArray
single_group(int64 g)
{
	VisIdArray	a = {0};

	vis_idarray_push(&a, g);
	return a;
}

/* ------------------------------------------------------------------------
 * 4.1 User visibility
 * ------------------------------------------------------------------------
 */

static void
tenant_user_row(void *arg, Datum *values, bool *nulls)
{
	VisBuild   *b = (VisBuild *) arg;

	if (b->w == NULL)
		vis_idarray_push(&b->bulk, DatumGetInt64(values[0]));
	else
		add_user(b, DatumGetInt64(values[0]), VIA_TENANT, 0);
}

/* platform_admin, learner_manager: every user of the tenant */
static void
users_tenant(VisBuild *b, const VisSource *src)
{
	static const char *const cols[] = {"user_id"};

	vis_scan("users", "users_tenant_idx", b->t->tenant_id, 1, cols, b->snap,
			 tenant_user_row, b);
}

/* group_admin, group_analyst, group_leader of g: members of S*(g) */
static void
users_subtree(VisBuild *b, const VisSource *src)
{
	VisIdArray	s = {0};

	vis_subtree(b->t, src->object, &s);
	add_members(b, &s);
}

/* coach of g: members of g itself */
static void
users_group(VisBuild *b, const VisSource *src)
{
	VisIdArray	s = single_group(src->object);

	add_members(b, &s);
}

typedef struct ManagedScan
{
	VisBuild   *b;
	VisIdSet   *seen;
	VisIdArray *queue;
	int64		via;
} ManagedScan;

static void
managed_row(void *arg, Datum *values, bool *nulls)
{
	ManagedScan *ms = (ManagedScan *) arg;
	int64		uid = DatumGetInt64(values[0]);

	if (vis_idset_add(ms->seen, uid))
		vis_idarray_push(ms->queue, uid);
	/* cycles are harmless, and a manager never sees itself this way */
	if (uid != ms->b->r->principal)
		add_user(ms->b, uid, VIA_MANAGED, ms->via);
}

/* manager: users managed directly or through managers who report to p */
static void
users_managed(VisBuild *b, const VisSource *src)
{
	static const char *const cols[] = {"user_id"};
	VisIdArray	queue = {0};
	ManagedScan ms;
	int			i;

	ms.b = b;
	ms.seen = vis_idset_create(CurrentMemoryContext, 16);
	ms.queue = &queue;
	vis_idset_add(ms.seen, b->r->principal);
	vis_idarray_push(&queue, b->r->principal);
	for (i = 0; i < queue.n; i++)
	{
		ms.via = queue.ids[i];
		vis_scan("managers", "managers_pkey", ms.via, 1, cols, b->snap, managed_row, &ms);
	}
}

typedef struct ObjectScan
{
	VisBuild   *b;
	int64		object;
	VisVia		via;
} ObjectScan;

static void
object_user_row(void *arg, Datum *values, bool *nulls)
{
	ObjectScan *os = (ObjectScan *) arg;

	add_user(os->b, DatumGetInt64(values[0]), os->via, os->object);
}

/* trainer of slot t: users registered in t */
static void
users_registered(VisBuild *b, const VisSource *src)
{
	static const char *const cols[] = {"user_id"};
	ObjectScan	os = {b, src->object, VIA_REGISTERED};

	vis_scan("slot_registrations", "slot_registrations_pkey", src->object, 1, cols,
			 b->snap, object_user_row, &os);
}

static void
played_user(void *arg, int64 user)
{
	ObjectScan *os = (ObjectScan *) arg;

	add_user(os->b, user, os->via, os->object);
}

/*
 * instructor of session s: users with progress on s or played in s; on a
 * Citus coordinator, read from the nodes that hold lms.progress
 */
static void
users_played(VisBuild *b, const VisSource *src)
{
	static const char *const cols[] = {"user_id"};
	ObjectScan	os = {b, src->object, VIA_PLAYED};

	if (vis_citus_players(src->object, played_user, &os))
		return;

	vis_scan("progress", "progress_content_idx", src->object, 1, cols,
			 b->snap, object_user_row, &os);
	vis_scan("progress", "progress_session_idx", src->object, 1, cols,
			 b->snap, object_user_row, &os);
}

/* contributor: own results only */
static void
users_self(VisBuild *b, const VisSource *src)
{
	add_user(b, b->r->principal, VIA_SELF, 0);
}

/* ------------------------------------------------------------------------
 * 4.2 Content statistics access, unrestricted
 * ------------------------------------------------------------------------
 */

/* platform_admin, learner_manager: all content of the tenant */
static void
content_tenant(VisBuild *b, const VisSource *src)
{
	contentmap_iterator it;
	VisContent *c;
	VisIdArray	all = {0};
	int			i;

	contentmap_start_iterate(b->t->content, &it);
	while ((c = contentmap_iterate(b->t->content, &it)) != NULL)
		vis_idarray_push(&all, c->id);
	for (i = 0; i < all.n; i++)
		grant(b, all.ids[i], NULL, VIA_TENANT, 0);
}

/*
 * A role held on group g, on the groups S of its group scope (S*(g), or g
 * alone): what its entry's of_groups grants, in the table below.
 */
static void
content_groups(VisBuild *b, const VisSource *src)
{
	const VisRule *rule = &vis_rules[src->rule];
	const GroupContent *gc = &rule->of_groups;
	VisIdArray	s = {0};

	if (rule->groups == GROUPS_SUBTREE)
		vis_subtree(b->t, src->object, &s);
	else
		s = single_group(src->object);
	if (gc->owned)
		grant_owned(b, &s, NULL, *gc->owned);
	if (gc->catalog)
		grant_catalog(b, &s, NULL);
	if (gc->legacy)
		grant_legacy(b, &s);
	if (gc->assigned)
		grant_assigned(b, &s);
}

/* main author, co-author of c: c; if c is a path, also its sessions */
static void
content_authored(VisBuild *b, const VisSource *src)
{
	VisContent *c = contentmap_lookup(b->t->content, src->object);

	if (c != NULL)
		grant_path(b, c, NULL, VIA_DIRECT, 0);
}

/* instructor of session s: s; trainer of slot t: t */
static void
content_object(VisBuild *b, const VisSource *src)
{
	grant(b, src->object, NULL, VIA_DIRECT, 0);
}

/* ------------------------------------------------------------------------
 * 4.3 Extended visibility, restricted to context groups
 * ------------------------------------------------------------------------
 */

/*
 * extended_for grants, with E = S u conn(S) as allowed contexts: content
 * owned by E, sessions of paths owned by E, courses in the catalog of
 * conn(S).
 */
static void
extended_for(VisBuild *b, VisIdSet *s, VisIdArray *s_arr)
{
	VisIdArray	conn_arr = {0};
	VisIdArray	allowed_arr = {0};
	VisIdSet   *allowed;
	int			i;

	vis_connected(b->t, s, s_arr, &conn_arr, b->snap);
	allowed = vis_idset_create(b->rescxt, s_arr->n + conn_arr.n);
	for (i = 0; i < s_arr->n; i++)
		if (vis_idset_add(allowed, s_arr->ids[i]))
			vis_idarray_push(&allowed_arr, s_arr->ids[i]);
	for (i = 0; i < conn_arr.n; i++)
		if (vis_idset_add(allowed, conn_arr.ids[i]))
			vis_idarray_push(&allowed_arr, conn_arr.ids[i]);
	grant_owned(b, &allowed_arr, allowed, OWNED_WITH_SESSIONS);
	grant_catalog(b, &conn_arr, allowed);
}

/* group_admin of g: S = S*(g) */
static void
extended_group_admin(VisBuild *b, const VisSource *src)
{
	VisIdArray	s = {0};
	VisIdSet   *set = vis_subtree(b->t, src->object, &s);

	extended_for(b, set, &s);
}

/* coach of g: S = {g} */
static void
extended_coach(VisBuild *b, const VisSource *src)
{
	VisIdArray	s = single_group(src->object);
	VisIdSet   *set = vis_idset_create(CurrentMemoryContext, 4);

	vis_idset_add(set, src->object);
	extended_for(b, set, &s);
}

/* ------------------------------------------------------------------------
 * The rule table: doc/rules.md's U(p), unrestricted and restricted grants, side by side
 * ------------------------------------------------------------------------
 */
static const VisRule vis_rules[RULE_COUNT] = {
	{RULE_PLATFORM_ADMIN, "platform_admin", SCOPE_TENANT, true,
	users_tenant, content_tenant, NULL, GROUPS_TENANT, .teams = TEAMS_ALL},
	{RULE_LEARNER_MANAGER, "learner_manager", SCOPE_TENANT, true,
	users_tenant, content_tenant, NULL, GROUPS_TENANT, .teams = TEAMS_CREATED},
	/*
	 * paths owned by S and their sessions; sessions owned by S; courses
	 * owned by S or in the catalog of S; classrooms and slots owned by S,
	 * and slots of classrooms owned by S; content with a legacy group
	 * enrolment of a group in S
	 */
	{RULE_GROUP_ADMIN, "group_admin", SCOPE_GROUP, false,
		users_subtree, content_groups, extended_group_admin, GROUPS_SUBTREE,
	{&OWNED_WITH_SESSIONS_AND_SLOTS, true, true, false}},
	/* content owned by S; courses in the catalog of S; content a group of S assigned to a learner */
	{RULE_GROUP_ANALYST, "group_analyst", SCOPE_GROUP, false,
		users_subtree, content_groups, NULL, GROUPS_SUBTREE,
	{&OWNED_ITEMS, true, false, true}},
	/* content owned by S; courses in the catalog of S */
	{RULE_GROUP_LEADER, "group_leader", SCOPE_GROUP, false,
		users_subtree, content_groups, NULL, GROUPS_SUBTREE,
	{&OWNED_ITEMS, true, false, false}},
	/* courses in g's catalog; sessions owned by g; content with a legacy group enrolment of g */
	{RULE_COACH, "coach", SCOPE_GROUP, false,
		users_group, content_groups, extended_coach, GROUPS_GROUP,
	{&OWNED_SESSIONS, true, true, false}},
	/* content owned by g; sessions of paths owned by g */
	{RULE_EDITOR, "editor", SCOPE_GROUP, false,
		NULL, content_groups, NULL, GROUPS_GROUP,
	{&OWNED_WITH_SESSIONS, false, false, false}},
	{RULE_MANAGER, "manager", SCOPE_RELATION, false,
	users_managed, NULL, NULL, GROUPS_NONE},
	{RULE_TRAINER, "trainer", SCOPE_RELATION, false,
	users_registered, content_object, NULL, GROUPS_NONE, .object_kind = KIND_CLASSROOM_SLOT},
	{RULE_INSTRUCTOR, "instructor", SCOPE_RELATION, false,
	users_played, content_object, NULL, GROUPS_NONE, .object_kind = KIND_PATH_SESSION},
	{RULE_CONTRIBUTOR, "contributor", SCOPE_TENANT, false,
	users_self, NULL, NULL, GROUPS_NONE},
	{RULE_MAIN_AUTHOR, "main author", SCOPE_RELATION, false,
	NULL, content_authored, NULL, GROUPS_NONE},
	{RULE_COAUTHOR, "co-author", SCOPE_RELATION, false,
	NULL, content_authored, NULL, GROUPS_NONE},
};

/*
 * vis_source_label names one role or relation of the principal, e.g.
 * "group_admin of group 17 (Sales)".
 */
char *
vis_source_label(VisResult *r, const VisSource *src)
{
	const char *name = vis_rules[src->rule].name;

	switch (vis_rules[src->rule].scope)
	{
		case SCOPE_TENANT:
			return psprintf("%s of tenant " INT64_FORMAT, name, r->tenant_id);
		case SCOPE_GROUP:
			if (r->tenant)
				return psprintf("%s of %s", name, vis_group_label(r->tenant, src->object));
			return psprintf("%s of group " INT64_FORMAT, name, src->object);
		case SCOPE_RELATION:
			/* a relation to a person (manager) has no object to name */
			if (src->object == 0)
				break;
			if (r->tenant)
				return psprintf("%s of %s", name, vis_content_label(r->tenant, src->object));
			return psprintf("%s of content " INT64_FORMAT, name, src->object);
	}
	return pstrdup(name);
}

/* ------------------------------------------------------------------------
 * The principal's roles and relations
 * ------------------------------------------------------------------------
 */

/*
 * Where roles and relations are held: each relation read by the index on
 * the column naming the principal that holds them, with the column naming
 * what it is held on (none: held on nothing, a manager's) and either the
 * column naming the role (its rules are those of the scope with that name)
 * or the one rule the relation stands for.  A user with no row in any of
 * them sees nothing.
 */
typedef struct HolderScan
{
	const char *relname;
	const char *indexname;		/* on the holder's column */
	const char *const holder[1];	/* the column naming the principal */
	const char *const atts[2];	/* the object's column, then the role's */
	int			natts;
	bool		has_object;
	bool		has_role;
	VisScope	scope;			/* a role: of the rules its name names */
	VisRuleId	rule;			/* no role: the rule the relation stands for */
} HolderScan;

static const HolderScan holder_scans[] = {
	{"tenant_roles", "tenant_roles_pkey", {"user_id"}, {"role"}, 1, false, true, SCOPE_TENANT, RULE_COUNT},
	{"group_roles", "group_roles_user_idx", {"user_id"}, {"group_id", "role"}, 2, true, true, SCOPE_GROUP,
	RULE_COUNT},
	/* held on nothing: a row read only to be counted */
	{"managers", "managers_pkey", {"manager_id"}, {"user_id"}, 1, false, false, SCOPE_RELATION, RULE_MANAGER},
	{"slot_trainers", "slot_trainers_user_idx", {"user_id"}, {"slot_id"}, 1, true, false, SCOPE_RELATION,
	RULE_TRAINER},
	{"session_instructors", "session_instructors_user_idx", {"user_id"}, {"session_id"}, 1, true, false,
	SCOPE_RELATION, RULE_INSTRUCTOR},
	{"content", "content_author_idx", {"main_author_id"}, {"content_id"}, 1, true, false, SCOPE_RELATION,
	RULE_MAIN_AUTHOR},
	{"content_coauthors", "content_coauthors_user_idx", {"user_id"}, {"content_id"}, 1, true, false,
	SCOPE_RELATION, RULE_COAUTHOR},
};

typedef struct SourceScan
{
	VisBuild   *b;
	const HolderScan *hs;
} SourceScan;

static void
add_source(VisBuild *b, VisRuleId rule, int64 object)
{
	VisSource  *src = MemoryContextAlloc(b->rescxt, sizeof(VisSource));
	ListCell   *lc;

	foreach(lc, b->r->sources)
	{
		VisSource  *old = (VisSource *) lfirst(lc);

		if (old->rule == rule && old->object == object)
		{
			pfree(src);
			return;
		}
	}
	src->rule = rule;
	src->object = object;
	b->r->sources = lappend(b->r->sources, src);
}

/* source_row adds the role or relation of one row of a HolderScan */
static void
source_row(void *arg, Datum *values, bool *nulls)
{
	SourceScan *ss = (SourceScan *) arg;
	const HolderScan *hs = ss->hs;
	int64		object = hs->has_object ? DatumGetInt64(values[0]) : 0;
	char	   *role;
	int			i;

	if (!hs->has_role)
	{
		add_source(ss->b, hs->rule, object);
		return;
	}
	role = TextDatumGetCString(values[hs->has_object ? 1 : 0]);
	for (i = 0; i < RULE_COUNT; i++)
		if (vis_rules[i].scope == hs->scope && strcmp(role, vis_rules[i].name) == 0)
			add_source(ss->b, (VisRuleId) i, object);
	pfree(role);
}

static void
ignore_row(void *arg, Datum *values, bool *nulls)
{
}

static int
source_cmp(const ListCell *a, const ListCell *b)
{
	const VisSource *x = lfirst(a);
	const VisSource *y = lfirst(b);

	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	if (x->object != y->object)
		return x->object < y->object ? -1 : 1;
	return 0;
}

/*
 * collect_sources lists every role and relation the principal holds, from
 * the store alone: whether their objects are of the principal's tenant is
 * checked once the tenant's structure is there (keep_tenant_sources), so
 * that a principal with none loads no structure.
 */
static void
collect_sources(VisBuild *b)
{
	SourceScan	ss = {b, NULL};
	MemoryContext old = MemoryContextSwitchTo(b->rescxt);
	int			i;

	for (i = 0; i < lengthof(holder_scans); i++)
	{
		const HolderScan *hs = &holder_scans[i];

		ss.hs = hs;
		vis_scan(hs->relname, hs->indexname, b->r->principal, hs->natts, hs->atts, b->snap, source_row, &ss);
	}
	list_sort(b->r->sources, source_cmp);
	MemoryContextSwitchTo(old);
}

/* holder_row notes the holder of a row */
static void
holder_row(void *arg, Datum *values, bool *nulls)
{
	vis_idset_add((VisIdSet *) arg, DatumGetInt64(values[0]));
}

/*
 * vis_holders_among adds to out each of n users (ids sorted) that holds a
 * role or relation: the principals whose U(p) or C(p) may be other than
 * empty.  One scan of each holding relation for all of them.
 */
void
vis_holders_among(const int64 *ids, int n, Snapshot snap, VisIdSet *out)
{
	int			i;

	for (i = 0; i < lengthof(holder_scans); i++)
	{
		const HolderScan *hs = &holder_scans[i];

		vis_scan_keys(hs->relname, hs->indexname, ids, n, 1, hs->holder, snap, holder_row, out, false);
	}
}

/*
 * keep_tenant_sources drops the roles held on groups, and the relations
 * held on content, of another tenant or of another kind of content than
 * the rule's: the store's triggers refuse them, but rows loaded with
 * triggers off must not open a door.
 */
static void
keep_tenant_sources(VisBuild *b)
{
	List	   *kept = NIL;
	ListCell   *lc;

	foreach(lc, b->r->sources)
	{
		VisSource  *src = lfirst(lc);
		const VisRule *rule = &vis_rules[src->rule];
		bool		keep = true;

		if (rule->scope == SCOPE_GROUP)
			keep = groupmap_lookup(b->t->groups, src->object) != NULL;
		else if (rule->scope == SCOPE_RELATION && src->object != 0)
		{
			VisContent *c = contentmap_lookup(b->t->content, src->object);

			keep = c != NULL && (rule->object_kind == KIND_NONE || c->kind == rule->object_kind);
		}
		if (keep)
			kept = lappend(kept, src);
	}
	b->r->sources = kept;
}

/* ------------------------------------------------------------------------
 * Tenant filter
 * ------------------------------------------------------------------------
 */

/*
 * drop_foreign_users removes from U(p) every user of another tenant among
 * those the rules found otherwise than through the tenant's users or
 * member lists.  The store's triggers refuse such links, but rows loaded
 * with triggers off (session_replication_role = replica) must not open a
 * door either.
 */
static void
drop_foreign_users(VisBuild *b)
{
	VisIdArray *ids = &b->unchecked;
	VisTenantUsers tenant_users;
	int			i;

	if (ids->n == 0)
		return;
	tenant_users = vis_tenant_users_among(b->t, ids->ids, ids->n, b->snap);
	for (i = 0; i < ids->n; i++)
		if (!vis_is_tenant_user(&tenant_users, ids->ids[i]))
			idset_delete(b->r->users, ids->ids[i]);
}

/*
 * group_scope collects the groups whose rows of lms.groups the principal
 * sees (doc/rules.md, "The dimensions and the principal"): every group of the tenant for a tenant-wide role, the
 * role's subtree or the role's group itself for a group role.  Only groups
 * of the principal's tenant count.  Dense ids go into a bitmap.
 */
static void
group_scope(VisBuild *b)
{
	VisResult  *r = b->r;
	VisIdSet   *scope = vis_idset_create(CurrentMemoryContext, 16);
	idset_iterator it;
	VisIdEntry *e;
	int64	   *ids;
	uint64		n = 0;
	ListCell   *lc;

	foreach(lc, r->sources)
	{
		const VisSource *src = lfirst(lc);
		VisIdArray	s = {0};
		int			i;

		switch (vis_rules[src->rule].groups)
		{
			case GROUPS_NONE:
				break;
			case GROUPS_TENANT:
				{
					groupmap_iterator git;
					VisGroup   *g;

					groupmap_start_iterate(b->t->groups, &git);
					while ((g = groupmap_iterate(b->t->groups, &git)) != NULL)
						vis_idset_add(scope, g->id);
				}
				break;
			case GROUPS_SUBTREE:
				vis_subtree(b->t, src->object, &s);
				for (i = 0; i < s.n; i++)
					vis_idset_add(scope, s.ids[i]);
				break;
			case GROUPS_GROUP:
				if (groupmap_lookup(b->t->groups, src->object) != NULL)
					vis_idset_add(scope, src->object);
				break;
		}
	}

	r->ngroups = scope->members;
	ids = palloc(sizeof(int64) * Max(scope->members, 1));
	idset_start_iterate(scope, &it);
	while ((e = idset_iterate(scope, &it)) != NULL)
		ids[n++] = e->id;
	if (!vis_bitmap_build(&r->group_bits, ids, n, b->rescxt))
	{
		uint64		i;

		r->groups = vis_idset_create(b->rescxt, Max(n, 16));
		for (i = 0; i < n; i++)
			vis_idset_add(r->groups, ids[i]);
	}
	pfree(ids);
}

/* ------------------------------------------------------------------------
 * The engine
 * ------------------------------------------------------------------------
 */

/*
 * sees_every_row tells whether the principal sees every row of the store:
 * it holds a role granting every user and all content of its tenant, and
 * its tenant is the only one (the foreign keys then tie every row of
 * progress, enrollments and users to it).  See vis_exec.c.
 */
static bool
sees_every_row(VisBuild *b)
{
	static const char *const cols[] = {"tenant_id"};
	ListCell   *lc;

	foreach(lc, b->r->sources)
	{
		const VisRule *rule = &vis_rules[((const VisSource *) lfirst(lc))->rule];

		if (rule->tenant_wide)
			return vis_scan("tenants", NULL, 0, 1, cols, b->snap, ignore_row, NULL) == 1;
	}
	return false;
}

/*
 * vis_compute computes U(p) and C(p) for one principal over all its roles.
 * The result lives in the current memory context; temporary structures
 * live in a child context dropped at the end, unless a witness asks for
 * reasons (explain_visibility), which need the tenant's names.  The
 * tenant's structure comes from get_tenant (the cache's), or is loaded
 * for this computation when get_tenant is NULL.
 */
VisResult *
vis_compute(int64 principal, VisWitness *witness, Snapshot snap,
			VisTenantFn get_tenant, void *arg)
{
	static const char *const user_cols[] = {"tenant_id"};
	MemoryContext rescxt = CurrentMemoryContext;
	MemoryContext scratch = NULL;
	MemoryContext old;
	VisResult  *r = palloc0(sizeof(VisResult));
	VisBuild	b;
	Datum		values[1];
	bool		nulls[1];
	bool		tenant_wide = false;
	ListCell   *lc;

	r->principal = principal;
	r->cxt = rescxt;
	r->users = vis_idset_create(rescxt, 16);
	r->grants = grantmap_create(rescxt, 16, NULL);

	if (!vis_fetch_one("users", "users_pkey", principal, 1, user_cols, snap, values, nulls))
		return r;
	r->known = true;
	r->tenant_id = DatumGetInt64(values[0]);

	if (witness == NULL)
	{
		scratch = AllocSetContextCreate(rescxt, "lms_visibility build", ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(scratch);
	}
	else
		old = CurrentMemoryContext;

	b.r = r;
	b.snap = snap;
	b.w = witness;
	b.rescxt = rescxt;
	memset(&b.unchecked, 0, sizeof(VisIdArray));
	memset(&b.bulk, 0, sizeof(VisIdArray));
	b.t = NULL;
	collect_sources(&b);
	/* a principal with no role and no relation sees nothing: no structure to load */
	if (r->sources != NIL || witness != NULL)
	{
		if (get_tenant != NULL)
			b.t = get_tenant(r->tenant_id, snap, arg);
		else
			b.t = vis_tenant_load(r->tenant_id, snap, witness != NULL);
		keep_tenant_sources(&b);
	}
	r->tenant = b.t;

	foreach(lc, r->sources)
	{
		const VisSource *src = lfirst(lc);

		if (vis_rules[src->rule].tenant_wide)
			tenant_wide = true;
	}

	foreach(lc, r->sources)
	{
		const VisSource *src = lfirst(lc);
		const VisRule *rule = &vis_rules[src->rule];

		b.src = src;

		/*
		 * A tenant-wide role already holds every user of the tenant: other
		 * roles could only add users of other tenants, so they are skipped,
		 * except when explain_visibility wants every reason.
		 */
		if (rule->users && (!tenant_wide || witness || rule->tenant_wide))
			rule->users(&b, src);
		if (rule->content)
			rule->content(&b, src);
		if (rule->extended && b.t->extended)
			rule->extended(&b, src);
	}
	if (!tenant_wide || witness)
		drop_foreign_users(&b);
	group_scope(&b);
	r->sees_all = sees_every_row(&b);

	vis_result_finish(r, &b.bulk, rescxt);
	MemoryContextSwitchTo(old);
	if (scratch)
	{
		r->tenant = NULL;
		MemoryContextDelete(scratch);
	}
	/* a bitmap holds U(p) in a fraction of the hash set's memory */
	if (witness == NULL && vis_bitmap_built(&r->user_bits))
	{
		idset_destroy(r->users);
		r->users = NULL;
	}
	return r;
}

/* vis_rule_adds_users tells whether the rule adds users to U(p) (4.1) */
bool
vis_rule_adds_users(VisRuleId rule)
{
	return vis_rules[rule].users != NULL;
}

/* vis_rule_adds_content tells whether the rule grants content (4.2, 4.3) */
bool
vis_rule_adds_content(VisRuleId rule)
{
	return vis_rules[rule].content != NULL || vis_rules[rule].extended != NULL;
}

/* vis_rule_on_group tells whether the rule is a role held on a group */
bool
vis_rule_on_group(VisRuleId rule)
{
	return vis_rules[rule].scope == SCOPE_GROUP;
}

/* vis_rule_name is the role or relation's name, as doc/rules.md names it */
const char *
vis_rule_name(VisRuleId rule)
{
	return vis_rules[rule].name;
}

/* vis_rule_held_on tells where the rule's role or relation is held: tenant, group or relation */
const char *
vis_rule_held_on(VisRuleId rule)
{
	static const char *const names[] = {
		[SCOPE_TENANT] = "tenant", [SCOPE_GROUP] = "group", [SCOPE_RELATION] = "relation"
	};

	return names[vis_rules[rule].scope];
}

/* vis_rule_group_scope names the rule's group scope: none, tenant, subtree or group */
const char *
vis_rule_group_scope(VisRuleId rule)
{
	static const char *const names[] = {
		[GROUPS_NONE] = "none", [GROUPS_TENANT] = "tenant", [GROUPS_SUBTREE] = "subtree",
		[GROUPS_GROUP] = "group"
	};

	return names[vis_rules[rule].groups];
}

/* vis_rule_teams names the teams the rule's role may change: none, all or created */
const char *
vis_rule_teams(VisRuleId rule)
{
	static const char *const names[] = {
		[TEAMS_NONE] = "none", [TEAMS_ALL] = "all", [TEAMS_CREATED] = "created"
	};

	return names[vis_rules[rule].teams];
}

/* vis_rule_single_group tells whether a role held on a group scopes that group alone */
bool
vis_rule_single_group(VisRuleId rule)
{
	return vis_rules[rule].groups == GROUPS_GROUP;
}

/* vis_rule_catalog tells whether a role held on a group grants the courses in its catalogs */
bool
vis_rule_catalog(VisRuleId rule)
{
	return vis_rules[rule].of_groups.catalog;
}

/* vis_rule_owned_sessions_only tells whether, of what its groups own, the role gets sessions only */
bool
vis_rule_owned_sessions_only(VisRuleId rule)
{
	return vis_rules[rule].of_groups.owned != NULL && vis_rules[rule].of_groups.owned->sessions_only;
}

/* vis_rule_extended tells whether the role gets restricted grants in tenants with extended visibility (4.3) */
bool
vis_rule_extended(VisRuleId rule)
{
	return vis_rules[rule].extended != NULL;
}
