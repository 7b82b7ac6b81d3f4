/*-------------------------------------------------------------------------
 *
 * vis_audit.c
 *	  The audit trail (doc/accountability.md): with lms.audit = statements, every
 *	  statement that reads a protected relation under a principal writes one
 *	  line to the server log, so it works on hot standbys too.
 *
 *	  The line is a fixed prefix and a CSV record:
 *		lms_audit,<principal>,"<SQL role>","<relations>",<rows>
 *	  relations: the protected relations the statement read, schema-
 *	  qualified and separated by spaces; rows: the rows it returned (or
 *	  wrote, for a write that read one).  A protected relation is one with
 *	  row-level security in schema lms, or one lms.protect_table protected
 *	  (its policy lms_visibility).  The statement's text is not logged: the
 *	  line names who read what, not the values asked for.
 *
 * IDENTIFICATION
 *	  src/vis_audit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_compat.h"

#include "catalog/namespace.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "rewrite/rowsecurity.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "vis_principal.h"

int			vis_audit = VIS_AUDIT_OFF;

static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

/* is_protected tells whether a read of relation relid is audited */
static bool
is_protected(Oid relid, Oid lms_namespace)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		result = false;

	if (rel == NULL)
		return false;
	if (rel->rd_rel->relrowsecurity)
	{
		if (RelationGetNamespace(rel) == lms_namespace)
			result = true;
		else if (rel->rd_rsdesc != NULL)
		{
			ListCell   *lc;

			foreach(lc, rel->rd_rsdesc->policies)
				if (strcmp(((RowSecurityPolicy *) lfirst(lc))->policy_name, "lms_visibility") == 0)
					result = true;
		}
	}
	RelationClose(rel);
	return result;
}

/* append_csv appends s to buf as a quoted CSV field */
static void
append_csv(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '"');
	for (; *s; s++)
	{
		if (*s == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, *s);
	}
	appendStringInfoChar(buf, '"');
}

static void
audit_statement(QueryDesc *queryDesc)
{
	Oid			lms_namespace = get_namespace_oid("lms", true);
	StringInfoData rels;
	StringInfoData line;
	List	   *seen = NIL;
	int64		principal;
	char	   *role;
	ListCell   *lc;

	initStringInfo(&rels);
	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind != RTE_RELATION || !(rte_required_perms_compat(queryDesc->plannedstmt, rte) & ACL_SELECT) ||
			list_member_oid(seen, rte->relid) || !is_protected(rte->relid, lms_namespace))
			continue;
		seen = lappend_oid(seen, rte->relid);
		if (rels.len > 0)
			appendStringInfoChar(&rels, ' ');
		appendStringInfo(&rels, "%s.%s", get_namespace_name(get_rel_namespace(rte->relid)),
						 get_rel_name(rte->relid));
	}
	if (seen == NIL || !vis_current_principal_quiet(&principal))
		return;
	role = GetUserNameFromId(GetOuterUserId(), true);
	initStringInfo(&line);
	appendStringInfo(&line, "lms_audit," INT64_FORMAT ",", principal);
	append_csv(&line, role ? role : "");
	appendStringInfoChar(&line, ',');
	append_csv(&line, rels.data);
	appendStringInfo(&line, "," UINT64_FORMAT, queryDesc->estate->es_processed);
	ereport(LOG,
			(errmsg_internal("%s", line.data),
			 errhidestmt(true),
			 errhidecontext(true)));
}

/*
 * vis_audit_executor_end writes the statement's audit line, when asked,
 * before the standard executor end frees its state.
 */
static void
vis_audit_executor_end(QueryDesc *queryDesc)
{
	if (vis_audit == VIS_AUDIT_STATEMENTS && queryDesc->estate != NULL &&
		!(queryDesc->estate->es_top_eflags & EXEC_FLAG_EXPLAIN_ONLY))
		audit_statement(queryDesc);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

void
vis_audit_init(void)
{
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = vis_audit_executor_end;
}
