/*-------------------------------------------------------------------------
 *
 * vis_principal.h
 *	  Who is asking: principals, the settings, and the audit trail.
 *
 * IDENTIFICATION
 *	  src/vis_principal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VIS_PRINCIPAL_H
#define VIS_PRINCIPAL_H

#include "postgres.h"

/* the majors it builds against, and their differences */
#include "pg_compat.h"

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

#endif							/* VIS_PRINCIPAL_H */
