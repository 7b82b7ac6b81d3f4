// examples/BiJdbc.java: what a BI tool (Metabase, Tableau, DBeaver) does
// through pgjdbc, as a login bound to a principal: introspect schema lms
// (DatabaseMetaData.getTables and getColumns), read every table and view
// it finds, then run the two dashboard queries as prepared statements with
// a parameter, more often than prepareThreshold, so that pgjdbc switches
// to server-side prepared statements and PostgreSQL to a generic plan.
//
// Run with Java 11 or later, no build step:
//   java -cp /usr/share/java/postgresql.jar examples/BiJdbc.java \
//     'jdbc:postgresql://127.0.0.1:5432/mydb' bi_login 2026-01-01
//
// Output, one line each: "table <name> rows <n>" or "table <name> refused
// <sqlstate>"; "columns <name> <n>"; then "course <title>|<learners>|
// <completed>" and "group <name>|<rows>|<completed>" of the last execution,
// and "executions <n> identical <true|false> server_prepared <true|false>".
import java.sql.*;
import java.util.*;

public class BiJdbc {
	static final String BY_COURSE =
		"SELECT c.title, count(*) AS learners, count(p.completed_at) AS completed " +
		"FROM lms.progress p JOIN lms.content c USING (content_id) " +
		"WHERE p.started_at >= ?::timestamptz GROUP BY c.title ORDER BY c.title";
	static final String BY_GROUP =
		"SELECT g.name, count(*) AS rows, count(p.completed_at) AS completed " +
		"FROM lms.progress p JOIN lms.group_members m USING (user_id) JOIN lms.groups g USING (group_id) " +
		"WHERE p.started_at >= ?::timestamptz GROUP BY g.name ORDER BY g.name";
	static final int EXECUTIONS = 8;	// pgjdbc's prepareThreshold is 5

	public static void main(String[] args) throws Exception {
		String url = args[0], user = args[1], since = args[2];
		try (Connection conn = DriverManager.getConnection(url, user, "")) {
			DatabaseMetaData md = conn.getMetaData();
			List<String> tables = new ArrayList<>();
			try (ResultSet rs = md.getTables(null, "lms", "%", new String[] {"TABLE", "VIEW", "PARTITIONED TABLE"})) {
				while (rs.next())
					tables.add(rs.getString("TABLE_NAME"));
			}
			Collections.sort(tables);
			for (String t : tables) {
				int ncols = 0;
				try (ResultSet rs = md.getColumns(null, "lms", t, "%")) {
					while (rs.next())
						ncols++;
				}
				System.out.println("columns " + t + " " + ncols);
				System.out.println("table " + t + " " + readAll(conn, t));
			}
			dashboard(conn, "course", BY_COURSE, since);
			dashboard(conn, "group", BY_GROUP, since);
		}
	}

	// readAll fetches every row of table t and says how many came back, or
	// the SQLSTATE of the refusal
	static String readAll(Connection conn, String t) throws SQLException {
		try (Statement st = conn.createStatement();
			 ResultSet rs = st.executeQuery("SELECT * FROM lms.\"" + t + "\"")) {
			int n = 0;
			while (rs.next())
				n++;
			return "rows " + n;
		} catch (SQLException e) {
			return "refused " + e.getSQLState();
		}
	}

	static void dashboard(Connection conn, String label, String sql, String since) throws SQLException {
		List<String> first = null, last = null;
		boolean identical = true, serverPrepared = false;
		try (PreparedStatement ps = conn.prepareStatement(sql)) {
			for (int i = 0; i < EXECUTIONS; i++) {
				ps.setString(1, since);
				List<String> rows = new ArrayList<>();
				try (ResultSet rs = ps.executeQuery()) {
					while (rs.next())
						rows.add(rs.getString(1) + "|" + rs.getLong(2) + "|" + rs.getLong(3));
				}
				if (first == null)
					first = rows;
				else if (!rows.equals(first))
					identical = false;
				last = rows;
				serverPrepared |= ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare();
			}
		}
		for (String r : last)
			System.out.println(label + " " + r);
		System.out.println("executions " + label + " " + EXECUTIONS + " identical " + identical +
						   " server_prepared " + serverPrepared);
	}
}
