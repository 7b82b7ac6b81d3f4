/*-------------------------------------------------------------------------
 *
 * vis_explain.c
 *	  explain_visibility: why a principal does or does not see one
 *	  statistics row, one line per part (user, content, context, result),
 *	  naming the roles that grant and, when denied, what is missing.
 *
 * IDENTIFICATION
 *	  src/vis_explain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "vis_engine.h"

static VisExplainRow *
row(const char *part, bool granted, char *reason)
{
	VisExplainRow *r = palloc(sizeof(VisExplainRow));

	r->part = part;
	r->granted = granted;
	r->reason = reason;
	return r;
}

static char *
join(List *strings, const char *sep)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, strings)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, sep);
		appendStringInfoString(&buf, (char *) lfirst(lc));
	}
	return buf.data;
}

/* via_text says how a role granted: the middle of a reason's sentence */
static char *
via_text(VisResult *r, const VisWhy *why)
{
	VisTenant  *t = r->tenant;
	int64		object = why->object;

	switch (why->via)
	{
		case VIA_TENANT:
			return psprintf("everyone and everything of tenant " INT64_FORMAT, r->tenant_id);
		case VIA_MEMBER:
			if (why->src.object == object)
				return psprintf("member of %s", vis_group_label(t, object));
			return psprintf("member of %s, a subgroup of %s", vis_group_label(t, object),
							vis_group_label(t, why->src.object));
		case VIA_MANAGED:
			if (object == r->principal)
				return pstrdup("managed directly");
			return psprintf("managed through manager " INT64_FORMAT, object);
		case VIA_REGISTERED:
			return psprintf("registered in %s", vis_content_label(t, object));
		case VIA_PLAYED:
			return psprintf("played %s", vis_content_label(t, object));
		case VIA_SELF:
			return pstrdup("own results only");
		case VIA_DIRECT:
			return pstrdup("the content itself");
		case VIA_OWNED:
			return psprintf("owned by %s", vis_group_label(t, object));
		case VIA_SESSION_OF:
			return psprintf("a session of %s", vis_content_label(t, object));
		case VIA_SLOT_OF:
			return psprintf("a slot of %s", vis_content_label(t, object));
		case VIA_CATALOG:
			return psprintf("a course in the catalog of %s", vis_group_label(t, object));
		case VIA_LEGACY:
			return psprintf("legacy group enrolment of %s", vis_group_label(t, object));
		case VIA_ASSIGNED:
			return psprintf("assigned to a learner by %s", vis_group_label(t, object));
	}
	return pstrdup("");
}

/* why_text writes one reason: "<role>: <how>" */
static char *
why_text(VisResult *r, const VisWhy *why)
{
	return psprintf("%s: %s", vis_source_label(r, &why->src), via_text(r, why));
}

/* why_texts returns the sentences of a list of VisWhy */
static List *
why_texts(VisResult *r, List *whys)
{
	List	   *texts = NIL;
	ListCell   *lc;

	foreach(lc, whys)
		texts = lappend(texts, why_text(r, lfirst(lc)));
	return texts;
}

/* roles_held lists the principal's roles that the filter accepts */
static char *
roles_held(VisResult *r, bool for_users)
{
	List	   *labels = NIL;
	ListCell   *lc;

	foreach(lc, r->sources)
	{
		VisSource  *src = lfirst(lc);
		if (for_users ? vis_rule_adds_users(src->rule) : vis_rule_adds_content(src->rule))
			labels = lappend(labels, vis_source_label(r, src));
	}
	if (labels == NIL)
		return NULL;
	return join(labels, "; ");
}

typedef struct ContentFacts
{
	VisIdArray	catalog;		/* groups whose catalog lists the content */
	VisIdArray	audience;		/* groups enrolled by audience builder */
	VisIdArray	paths;			/* paths it is a step of */
} ContentFacts;

static void
catalog_group_row(void *arg, Datum *values, bool *nulls)
{
	vis_idarray_push(&((ContentFacts *) arg)->catalog, DatumGetInt64(values[0]));
}

static void
enrolment_row(void *arg, Datum *values, bool *nulls)
{
	char	   *method = TextDatumGetCString(values[1]);

	if (strcmp(method, "audience_builder") == 0)
		vis_idarray_push(&((ContentFacts *) arg)->audience, DatumGetInt64(values[0]));
}

static void
step_row(void *arg, Datum *values, bool *nulls)
{
	vis_idarray_push(&((ContentFacts *) arg)->paths, DatumGetInt64(values[0]));
}

static bool
first_in(VisIdArray *a, VisIdSet *set, int64 *which)
{
	int			i;

	for (i = 0; i < a->n; i++)
		if (vis_idset_has(set, a->ids[i]))
		{
			*which = a->ids[i];
			return true;
		}
	return false;
}

/*
 * content_denial explains why no role grants a content item: what the item
 * is, and for each group role what would have been needed.
 */
static char *
content_denial(VisResult *r, int64 content_id)
{
	static const char *const group_cols[] = {"group_id"};
	static const char *const enrol_cols[] = {"group_id", "method"};
	static const char *const path_cols[] = {"path_id"};
	VisTenant  *t = r->tenant;
	VisContent *c = contentmap_lookup(t->content, content_id);
	ContentFacts f = {{0}};
	List	   *notes = NIL;
	ListCell   *lc;
	char	   *held;
	int			i;

	if (c == NULL)
		return psprintf("content " INT64_FORMAT " is not content of tenant " INT64_FORMAT,
						content_id, r->tenant_id);

	vis_scan("catalog_entries", "catalog_entries_content_idx", content_id, 1, group_cols,
			 vis_snapshot(), catalog_group_row, &f);
	vis_scan("group_enrollments", "group_enrollments_content_idx", content_id, 2, enrol_cols,
			 vis_snapshot(), enrolment_row, &f);
	vis_scan("path_steps", "path_steps_step_idx", content_id, 1, path_cols,
			 vis_snapshot(), step_row, &f);

	if (c->owner != 0)
		notes = lappend(notes, psprintf("%s is owned by %s", vis_content_label(t, content_id),
										vis_group_label(t, c->owner)));
	else
		notes = lappend(notes, psprintf("%s is owned by no group", vis_content_label(t, content_id)));

	foreach(lc, r->sources)
	{
		VisSource  *src = lfirst(lc);
		VisIdArray	s_arr = {0};
		VisIdSet   *s;
		int64		g;
		char	   *label;

		if (!vis_rule_on_group(src->rule))
			continue;
		label = vis_source_label(r, src);
		if (vis_rule_single_group(src->rule))
		{
			s = vis_idset_create(CurrentMemoryContext, 4);
			vis_idset_add(s, src->object);
			vis_idarray_push(&s_arr, src->object);
		}
		else
			s = vis_subtree(t, src->object, &s_arr);

		if (c->kind != KIND_COURSE && first_in(&f.catalog, s, &g))
			notes = lappend(notes, psprintf("catalog inclusion grants courses only: it is a %s in the catalog of %s",
											vis_kind_names[c->kind], vis_group_label(t, g)));
		else if (f.catalog.n > 0 && !first_in(&f.catalog, s, &g) && vis_rule_catalog(src->rule))
			notes = lappend(notes, psprintf("it is only in the catalog of %s; that grants nothing to %s",
											vis_group_label(t, f.catalog.ids[0]), label));
		if (!vis_rule_catalog(src->rule) && first_in(&f.catalog, s, &g))
			notes = lappend(notes, psprintf("catalog inclusion does not grant the %s role (%s)",
											vis_rule_name(src->rule), label));
		if (first_in(&f.audience, s, &g))
			notes = lappend(notes, psprintf("the group enrolment of %s by audience builder grants nothing",
											vis_group_label(t, g)));
		if (vis_rule_extended(src->rule) && !t->extended)
		{
			VisIdSet   *conn = vis_connected(t, s, &s_arr, NULL, vis_snapshot());

			if ((c->owner != 0 && vis_idset_has(conn, c->owner)) || first_in(&f.catalog, conn, &g))
				notes = lappend(notes, psprintf("it belongs to a group publicly connected to %s, but extended visibility is off for tenant " INT64_FORMAT,
												label, r->tenant_id));
		}
		if (vis_rule_owned_sessions_only(src->rule) && c->owner != 0 &&
			vis_idset_has(s, c->owner) && c->kind != KIND_PATH_SESSION)
			notes = lappend(notes, psprintf("the %s role gets only the sessions its group owns, not a %s it owns",
											vis_rule_name(src->rule), vis_kind_names[c->kind]));
	}
	for (i = 0; i < f.paths.n; i++)
		if (vis_result_access(r, f.paths.ids[i]) != VIS_ACCESS_NONE)
			notes = lappend(notes, psprintf("access to %s does not extend to its steps",
											vis_content_label(t, f.paths.ids[i])));

	held = roles_held(r, false);
	if (held == NULL)
		notes = lappend(notes, psprintf("principal " INT64_FORMAT " holds no role that grants content statistics (managers and contributors get none)",
										r->principal));
	else
		notes = lappend(notes, psprintf("no role grants it; roles held: %s", held));
	return join(notes, "; ");
}

/* tenant_row keeps the tenant of the row read */
static void
tenant_row(void *arg, Datum *values, bool *nulls)
{
	*(int64 *) arg = DatumGetInt64(values[0]);
}

/* user_in_tenant tells whether user_id is a user of the tenant */
static bool
user_in_tenant(int64 user_id, int64 tenant_id)
{
	static const char *const cols[] = {"tenant_id"};
	int64		t = -1;

	vis_scan("users", "users_pkey", user_id, 1, cols, vis_snapshot(), tenant_row, &t);
	return t == tenant_id;
}

/*
 * vis_explain_rows computes the four rows of explain_visibility.  It runs
 * the same engine as can_view_stats, with a witness recording the grants
 * that touch the asked user and content, so the result row agrees with
 * can_view_stats by construction (and is checked to).
 */
List *
vis_explain_rows(int64 principal, int64 user_id, int64 content_id,
				 bool has_context, int64 context_id)
{
	VisWitness	w = {0};
	VisResult  *r;
	VisAccess	access;
	List	   *rows = NIL;
	bool		user_ok,
				content_ok,
				context_ok = false,
				result;
	char	   *held;

	w.user_id = user_id;
	w.content_id = content_id;
	w.context_id = context_id;
	r = vis_compute(principal, &w, vis_snapshot(), NULL, NULL);

	if (!r->known)
	{
		char	   *why = psprintf("principal " INT64_FORMAT " is not a user: it sees nothing", principal);

		rows = lappend(rows, row("user", false, why));
		rows = lappend(rows, row("content", false, why));
		rows = lappend(rows, row("context", false, why));
		rows = lappend(rows, row("result", false, pstrdup("hidden")));
		return rows;
	}

	/* user */
	user_ok = vis_idset_has(r->users, user_id);
	if (user_ok)
		rows = lappend(rows, row("user", true, join(why_texts(r, w.user_reasons), "; ")));
	else if (!user_in_tenant(user_id, r->tenant_id))
		rows = lappend(rows, row("user", false,
								 psprintf("user " INT64_FORMAT " is not a user of tenant " INT64_FORMAT,
										  user_id, r->tenant_id)));
	else if ((held = roles_held(r, true)) == NULL)
		rows = lappend(rows, row("user", false,
								 psprintf("principal " INT64_FORMAT " holds no role that grants user visibility (editors and authors see no users)",
										  principal)));
	else
		rows = lappend(rows, row("user", false,
								 psprintf("no role of principal " INT64_FORMAT " reaches user " INT64_FORMAT "; roles held: %s",
										  principal, user_id, held)));

	/* content */
	access = vis_result_access(r, content_id);
	content_ok = access != VIS_ACCESS_NONE;
	if (access == VIS_ACCESS_OPEN)
		rows = lappend(rows, row("content", true, join(why_texts(r, w.content_reasons), "; ")));
	else if (access == VIS_ACCESS_RESTRICTED)
		rows = lappend(rows, row("content", true,
								 psprintf("restricted to context groups, by extended visibility: %s",
										  join(why_texts(r, w.restricted_reasons), "; "))));
	else
		rows = lappend(rows, row("content", false, content_denial(r, content_id)));

	/* context */
	if (!content_ok)
		rows = lappend(rows, row("context", false, pstrdup("no grant of the content, so no context group can help")));
	else if (access == VIS_ACCESS_OPEN)
	{
		context_ok = true;
		rows = lappend(rows, row("context", true, pstrdup("not needed: an unrestricted grant applies")));
	}
	else if (!has_context)
		rows = lappend(rows, row("context", false, pstrdup("the row has no context group, and a null context never qualifies for a restricted grant")));
	else
	{
		ListCell   *rc,
				   *sc;
		List	   *allowed = NIL;

		forboth(rc, w.restricted_reasons, sc, w.restricted_sets)
		{
			if (vis_idset_has((VisIdSet *) lfirst(sc), context_id))
			{
				context_ok = true;
				rows = lappend(rows, row("context", true,
										 psprintf("%s is allowed by %s",
												  vis_group_label(r->tenant, context_id),
												  why_text(r, lfirst(rc)))));
				break;
			}
			allowed = lappend(allowed, why_text(r, lfirst(rc)));
		}
		if (!context_ok)
			rows = lappend(rows, row("context", false,
									 psprintf("the row was played from %s, which none of the restricted grants allows (%s)",
											  vis_group_label(r->tenant, context_id), join(allowed, "; "))));
	}

	/* result */
	result = user_ok && content_ok && context_ok;
	if (result != vis_result_sees(r, user_id, content_id, has_context, context_id))
		elog(ERROR, "explain_visibility disagrees with can_view_stats");
	if (result)
		rows = lappend(rows, row("result", true, pstrdup("visible")));
	else
	{
		List	   *missing = NIL;

		if (!user_ok)
			missing = lappend(missing, "user");
		if (!content_ok)
			missing = lappend(missing, "content");
		else if (!context_ok)
			missing = lappend(missing, "context");
		rows = lappend(rows, row("result", false, psprintf("hidden: missing %s", join(missing, ", "))));
	}
	return rows;
}
