/*-------------------------------------------------------------------------
 *
 * vis_engine.h
 *	  The visibility engine: the tenant's structure, the rules, the result
 *	  U(p) and C(p) of a principal and the row checks made of it.
 *
 * IDENTIFICATION
 *	  src/vis_engine.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VIS_ENGINE_H
#define VIS_ENGINE_H

#include "vis_store.h"

#include "nodes/pg_list.h"

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
	char	   *title;
	VisIdArray	children;		/* sessions of a path, slots of a classroom */
} VisContent;

#define SH_PREFIX contentmap
#define SH_ELEMENT_TYPE VisContent
#define SH_KEY_TYPE int64
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

/*
 * One tenant's structure: what every principal of the tenant reads (the
 * group and content trees, and who owns what).  The cache
 * keeps it for the principals it builds; explain_visibility loads its own,
 * with labels.
 */
typedef struct VisTenant
{
	int64		tenant_id;
	bool		extended;
	groupmap_hash *groups;
	contentmap_hash *content;
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

	/*
	 * C(p): its unrestricted grants are those of open_bits when it is
	 * built, else those of grants.  grants holds every restricted grant and,
	 * in a result built here (not read from a shared entry), every
	 * unrestricted one too; NULL: none.
	 */
	grantmap_hash *grants;
	uint64		ncontent;		/* |C(p)| */
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
	/* where the result lives, and the three built on demand above */
	MemoryContext cxt;
} VisResult;

/* Whether C(p) holds a content item, and how */
typedef enum VisAccess
{
	VIS_ACCESS_NONE,
	VIS_ACCESS_OPEN,			/* some grant is unrestricted */
	VIS_ACCESS_RESTRICTED		/* every grant is restricted to context groups */
} VisAccess;

extern VisResult *vis_compute(int64 principal, VisWitness *witness, Snapshot snap,
							  VisTenantFn get_tenant, void *arg);
extern void vis_holders_among(const int64 *ids, int n, Snapshot snap, VisIdSet *out);
/* vis_result.c */
extern void vis_result_finish(VisResult *r, const VisIdArray *bulk, MemoryContext cxt);
extern char *vis_source_label(VisResult *r, const VisSource *src);
extern bool vis_rule_adds_users(VisRuleId rule);
extern bool vis_rule_adds_content(VisRuleId rule);
extern bool vis_rule_on_group(VisRuleId rule);
extern const char *vis_rule_name(VisRuleId rule);
extern const char *vis_rule_held_on(VisRuleId rule);
extern const char *vis_rule_group_scope(VisRuleId rule);
extern const char *vis_rule_teams(VisRuleId rule);
extern bool vis_rule_single_group(VisRuleId rule);
extern bool vis_rule_catalog(VisRuleId rule);
extern bool vis_rule_owned_sessions_only(VisRuleId rule);
extern bool vis_rule_extended(VisRuleId rule);
extern bool vis_result_grant_sees(VisResult *r, int64 content_id,
								  bool has_context, int64 context_id);
extern VisAccess vis_result_access(VisResult *r, int64 content_id);
extern int64 *vis_result_open_ids(VisResult *r, uint64 *n);
extern int64 *vis_result_user_ids(VisResult *r, int *n);
extern int64 *vis_result_content_ids(VisResult *r, int *n);
extern Datum vis_ids_array(const int64 *ids, int n, MemoryContext cxt);
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

#endif							/* VIS_ENGINE_H */
