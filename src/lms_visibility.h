/*-------------------------------------------------------------------------
 *
 * lms_visibility.h
 *	  Every declaration of the lms_visibility extension, by layer: ids
 *	  (vis_ids.h), the store (vis_store.h), the engine (vis_engine.h), the
 *	  caches (vis_cache.h), row-level security at run time (vis_exec.h) and
 *	  principals and settings (vis_principal.h).  Each layer's header
 *	  includes the one below it.
 *
 * IDENTIFICATION
 *	  src/lms_visibility.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LMS_VISIBILITY_H
#define LMS_VISIBILITY_H

#include "vis_cache.h"
#include "vis_exec.h"
#include "vis_principal.h"

#include "fmgr.h"

#endif							/* LMS_VISIBILITY_H */
