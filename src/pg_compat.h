/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  The differences between the PostgreSQL majors lms_visibility builds
 *	  against (15 to 18), each behind one version test, so that the code
 *	  above reads as if there were one PostgreSQL.
 *
 * vis_ids.h and vis_principal.h, the bottom of every other header, include
 * it, so that every file is built against a
 * supported major; the files that meet a difference include it themselves.
 * Every wrapper keeps the newest major's meaning; the older branch emulates
 * it.
 *
 * IDENTIFICATION
 *	  src/pg_compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_COMPAT_H
#define PG_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "lms_visibility supports PostgreSQL 15, 16, 17 and 18"
#endif

/*
 * get_guc_variables_compat returns the settings' records and their number
 * (16 returns the count itself; 15 has GetNumConfigOptions()).
 */
#include "utils/guc_tables.h"

static inline struct config_generic **
get_guc_variables_compat(int *num_vars)
{
#if PG_VERSION_NUM >= 160000
	return get_guc_variables(num_vars);
#else
	*num_vars = GetNumConfigOptions();
	return get_guc_variables();
#endif
}

/* the depth ParseConfigFile starts at (16 exports it in utils/conffiles.h) */
#if PG_VERSION_NUM >= 160000
#include "utils/conffiles.h"
#else
#define CONF_FILE_START_DEPTH 0
#endif

/*
 * MyProcLocalTransactionId: the backend's local transaction id (17 moved
 * it into MyProc->vxid).
 */
#if PG_VERSION_NUM >= 170000
#define MyProcLocalTransactionId (MyProc->vxid.lxid)
#else
#define MyProcLocalTransactionId (MyProc->lxid)
#endif

/*
 * index_beginscan_compat starts an index scan without instrumentation (18
 * added the IndexScanInstrumentation argument).
 */
#if PG_VERSION_NUM >= 180000
#define index_beginscan_compat(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define index_beginscan_compat(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * rte_required_perms_compat returns the permissions a statement's range
 * table entry requires (16 moved them to the statement's RTEPermissionInfo
 * list, found through rte->perminfoindex; 0 there means none).
 */
#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
#define rte_required_perms_compat(stmt, rte) \
	((rte)->perminfoindex == 0 ? (AclMode) 0 : \
	 getRTEPermissionInfo((stmt)->permInfos, (rte))->requiredPerms)
#else
#define rte_required_perms_compat(stmt, rte) ((rte)->requiredPerms)
#endif

/* EXPLAIN's property functions (18 moved them out of commands/explain.h) */
#if PG_VERSION_NUM >= 180000
#define VIS_EXPLAIN_FORMAT_HEADER "commands/explain_format.h"
#else
#define VIS_EXPLAIN_FORMAT_HEADER "commands/explain.h"
#endif

/* 17 numbers the processes with MyProcNumber */
#if PG_VERSION_NUM >= 170000
#define VisMyProcNumber MyProcNumber
#else
#define VisMyProcNumber (MyProc->pgprocno)
#endif

/* 18: ConditionalXactLockTableWait can log the lock it did not get */
#if PG_VERSION_NUM >= 180000
#define ConditionalXactLockTableWait_compat(xid) ConditionalXactLockTableWait(xid, false)
#else
#define ConditionalXactLockTableWait_compat(xid) ConditionalXactLockTableWait(xid)
#endif

#endif							/* PG_COMPAT_H */
