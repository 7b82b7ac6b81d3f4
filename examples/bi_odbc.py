#!/usr/bin/python3
# examples/bi_odbc.py: what a BI tool (Power BI, Excel) does through ODBC
# (psqlODBC under unixODBC), as a login bound to a principal: introspect
# schema lms (SQLTables, SQLColumns), read every table and view it finds,
# then run the two dashboard queries as prepared statements with a
# parameter, eight times each, with server-side prepares.
#
# Needs Debian's odbc-postgresql, unixodbc and python3-pyodbc:
#   /usr/bin/python3 examples/bi_odbc.py 127.0.0.1 5432 mydb bi_login 2026-01-01
#
# Output: the same lines as examples/BiJdbc.java.
import sys

import pyodbc

BY_COURSE = """SELECT c.title, count(*) AS learners, count(p.completed_at) AS completed
FROM lms.progress p JOIN lms.content c USING (content_id)
WHERE p.started_at >= CAST(? AS timestamptz) GROUP BY c.title ORDER BY c.title"""
BY_GROUP = """SELECT g.name, count(*) AS rows, count(p.completed_at) AS completed
FROM lms.progress p JOIN lms.group_members m USING (user_id) JOIN lms.groups g USING (group_id)
WHERE p.started_at >= CAST(? AS timestamptz) GROUP BY g.name ORDER BY g.name"""
EXECUTIONS = 8


def read_all(conn, table):
    """Fetch every row of the table: 'rows <n>', or 'refused <sqlstate>'."""
    cur = conn.cursor()
    try:
        cur.execute('SELECT * FROM lms."%s"' % table.replace('"', '""'))
        return "rows %d" % len(cur.fetchall())
    except pyodbc.Error as e:
        return "refused %s" % e.args[0]


def dashboard(conn, label, sql, since):
    cur = conn.cursor()
    results = []
    for _ in range(EXECUTIONS):
        cur.execute(sql, since)
        results.append(["%s|%d|%d" % (r[0], r[1], r[2]) for r in cur.fetchall()])
    for r in results[-1]:
        print(label, r)
    print("executions", label, EXECUTIONS, "identical",
          str(all(r == results[0] for r in results)).lower())


def main():
    host, port, db, user, since = sys.argv[1:6]
    conn = pyodbc.connect("Driver={PostgreSQL Unicode};Server=%s;Port=%s;Database=%s;Uid=%s;Pwd=;"
                          "UseServerSidePrepare=1" % (host, port, db, user), autocommit=True)
    tables = sorted(t.table_name for t in conn.cursor().tables(schema="lms")
                    if t.table_type in ("TABLE", "VIEW", "PARTITIONED TABLE"))
    for t in tables:
        ncols = len(conn.cursor().columns(schema="lms", table=t).fetchall())
        print("columns", t, ncols)
        print("table", t, read_all(conn, t))
    dashboard(conn, "course", BY_COURSE, since)
    dashboard(conn, "group", BY_GROUP, since)


main()
