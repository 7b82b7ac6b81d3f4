# Makefile for lms_visibility (PGXS)

EXTENSION = lms_visibility
MODULE_big = lms_visibility
OBJS = \
	src/vis_inval.o \
	src/vis_citus.o \
	src/vis_citus_statement.o \
	src/vis_load.o \
	src/vis_graph.o \
	src/vis_members.o \
	src/vis_rules.o \
	src/vis_result.o \
	src/vis_explain.o \
	src/vis_cache.o \
	src/vis_principal.o \
	src/vis_settings.o \
	src/vis_guard.o \
	src/vis_policy.o \
	src/vis_plancost.o \
	src/vis_planner.o \
	src/vis_share.o \
	src/vis_shcache.o \
	src/vis_exec.o \
	src/vis_rangescan.o \
	src/vis_audit.o \
	src/vis_token.o \
	src/vis_history.o \
	src/vis_preview.o \
	src/vis_sql.o

# the install script of the current version is made from lms_visibility.sql
# (doc/development.md, "Changing the SQL"); the released ones are as they were
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'$$/\1/p" $(EXTENSION).control)
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard $(EXTENSION)--*.sql))

# the test command runs REGRESS_PRELOADED against a server that preloads the
# library, REGRESS_LATE against one that loads it in each session
REGRESS_PRELOADED = constraints principal plans accountability history upgrade catalog
REGRESS_LATE = late_load
REGRESS = $(REGRESS_PRELOADED) $(REGRESS_LATE)
REGRESS_OPTS = --inputdir=.
ISOLATION = revocation invalidation team_writes shared_cache history_order
ISOLATION_OPTS = --load-extension=lms_visibility
TAP_TESTS = 1

PG_CFLAGS = -MMD -MP
PG_CPPFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies unless the server was configured with
# --enable-depend: the compiler writes each object's (PG_CFLAGS' -MMD, to
# src/x.d), and a bitcode file is made again with its object
-include $(wildcard src/*.d)
$(OBJS:.o=.bc): %.bc: %.o
EXTRA_CLEAN = src/*.d

$(EXTENSION)--$(EXTVERSION).sql: $(EXTENSION).sql
	cp $< $@
