#!/usr/bin/env bash
# Packaging: debian/ builds postgresql-15-lms-visibility with pg_buildext
# (dpkg-buildpackage -us -uc -b) from the tracked files; with the files of
# "make install" removed, installing the .deb alone gives a clean cluster a
# working extension.  The package is removed and "make install" redone after.
. "$(dirname "$0")/common.sh"
ensure_packages debhelper dpkg-dev postgresql-server-dev-all
P="$LMS_TEST_WORK/package"
VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" lms_visibility.control)
SRC="$P/lms-visibility-$VERSION"
mkdir -p "$SRC"
if [ -d .git ]; then git ls-files | tar -cf - -T - | tar -xf - -C "$SRC"
else tar --exclude=./.git -cf - . | tar -xf - -C "$SRC"; fi
(cd "$SRC" && dpkg-buildpackage -us -uc -b >"$P/build.log" 2>&1) && pass "dpkg-buildpackage -us -uc -b builds" ||
	fail "dpkg-buildpackage: $(tail -5 "$P/build.log")"
DEB=$(ls "$P"/postgresql-15-lms-visibility_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] && pass "it makes postgresql-15-lms-visibility" || fail "no .deb"

make -s PG_CONFIG="$PGBIN/pg_config" uninstall >/dev/null 2>&1 || true
[ ! -f /usr/share/postgresql/15/extension/lms_visibility.control ] && pass "make uninstall removed the extension's files"
dpkg -i "$DEB" >"$P/install.log" 2>&1 && pass "dpkg -i installs the package" || fail "dpkg -i: $(tail -3 "$P/install.log")"
same "the package owns the control file" "$(dpkg -S /usr/share/postgresql/15/extension/lms_visibility.control 2>/dev/null | cut -d: -f1)" \
	postgresql-15-lms-visibility

CL="$LMS_TEST_WORK/pkgcluster"
CLPORT=$(free_port $((PGPORT + 2)))
(
	start_cluster "$CL" "$CLPORT"
	createdb pkg
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d pkg -c "CREATE EXTENSION lms_visibility" -f sample/platform.sql \
		-c "CREATE ROLE p_coach" -c "SELECT lms.bind_role('p_coach', 104)"
	echo "coach_rows=$(psql -X -q -At -d pkg -c 'SET ROLE p_coach' -c 'SELECT count(*) FROM lms.progress')"
	echo "version=$(psql -X -q -At -d pkg -c "SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility'")"
) >"$P/cluster.log" 2>&1
stop_cluster "$CL"
same "a clean cluster creates the extension from the package" "$(sed -n 's/^version=//p' "$P/cluster.log")" "$VERSION"
same "and a bound coach sees its 3 rows" "$(sed -n 's/^coach_rows=//p' "$P/cluster.log")" 3

dpkg -r postgresql-15-lms-visibility >/dev/null 2>&1 && pass "dpkg -r removes the package"
make -s PG_CONFIG="$PGBIN/pg_config" install >/dev/null
finish
