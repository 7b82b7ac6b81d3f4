/*-------------------------------------------------------------------------
 *
 * vis_token.c
 *	  Read your revocation on a replica (doc/consistency.md): a consistency token
 *	  from the primary names the store's state after a change (a WAL
 *	  position); on a hot standby, lms.await_token() makes the transaction
 *	  wait until that state is replayed, or fails past a timeout.
 *
 *	  A standby applies a revocation only when it replays it.  A client
 *	  that revokes on the primary and reads from a replica (an application's
 *	  read pool, pgpool-II) passes the token of its change, so the read is
 *	  never answered from the relationships before it.
 *
 * IDENTIFICATION
 *	  src/vis_token.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "vis_ids.h"

PG_FUNCTION_INFO_V1(lms_consistency_token);

/*
 * lms_consistency_token returns the token of the store's state as of now,
 * on the primary: the WAL insert position, past the commit of every change
 * this session has committed.
 */
Datum
lms_consistency_token(PG_FUNCTION_ARGS)
{
	XLogRecPtr	lsn;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a consistency token comes from the primary"),
				 errhint("Call lms.consistency_token() on the primary after the change commits, and lms.await_token() on the standby.")));
	lsn = GetXLogInsertRecPtr();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%X/%X", LSN_FORMAT_ARGS(lsn))));
}

PG_FUNCTION_INFO_V1(lms_await_token);

/*
 * lms_await_token(token, timeout_ms) waits until this server has replayed
 * the state the token names, then takes the invalidations replayed with
 * it, so that the transaction's next statements answer from it.  On the
 * primary it returns at once.  In REPEATABLE READ or SERIALIZABLE the
 * transaction's snapshot is already taken: it must be called before.
 */
Datum
lms_await_token(PG_FUNCTION_ARGS)
{
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		timeout_ms = PG_GETARG_INT32(1);
	bool		have_error = false;
	XLogRecPtr	target = pg_lsn_in_internal(token, &have_error);
	TimestampTz deadline;

	if (have_error)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid consistency token: \"%s\"", token),
				 errhint("A token is the text lms.consistency_token() returned on the primary.")));
	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	if (!RecoveryInProgress())
		PG_RETURN_VOID();
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("lms.await_token() must run before a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("The transaction's snapshot was taken when it began to query, before the wait."),
				 errhint("Call it in a transaction of its own, then begin the transaction that reads.")));

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	for (;;)
	{
		XLogRecPtr	replayed = GetXLogReplayRecPtr(NULL);

		if (replayed >= target)
			break;
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("this standby has not replayed the change of consistency token %s within %d ms",
							token, timeout_ms),
					 errdetail("It has replayed up to %X/%X.", LSN_FORMAT_ARGS(replayed)),
					 errhint("Read from the primary, or retry once the standby has caught up.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 2,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	AcceptInvalidationMessages();
	PG_RETURN_VOID();
}
