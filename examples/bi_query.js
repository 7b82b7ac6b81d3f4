// examples/bi_query.js: a BI tool's view, through a second client library:
// connects as a bound login and reads the reporting surface with plain SQL.
//   PGHOST=... PGPORT=... node bi_query.js <login> <database>
'use strict';
const { Client } = require('pg');

async function main() {
  const client = new Client({ user: process.argv[2], database: process.argv[3] });
  await client.connect();
  const who = await client.query('SELECT lms.current_principal() AS p');
  const rows = await client.query('SELECT count(*)::int AS n FROM lms.progress_report');
  const users = await client.query('SELECT count(*)::int AS n FROM lms.users');
  console.log(`principal=${who.rows[0].p} report_rows=${rows.rows[0].n} users=${users.rows[0].n}`);
  await client.end();
}

main().catch((e) => { console.error(e.message); process.exit(1); });
