// examples/app.js: an application server that serves statistics for its
// logged-in users through lms_visibility.  It connects as one trusted role
// (lms.trust_role('app_server')), usually through a connection pool, and acts
// for each request's user for that request's transaction only:
//
//   BEGIN; SELECT set_config('lms.principal', <user id>, true); ...; COMMIT;
//
// Row-level security then shows the request exactly that user's rows.  The
// setting ends with the transaction, so a pooled server connection never
// carries one request's principal into another's.
'use strict';
const { Pool } = require('pg');

function makePool(options) {
  return new Pool({ max: 10, ...options });
}

// statsFor returns the progress rows a principal may see, as "user:content" words
async function statsFor(pool, principal) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('lms.principal', $1, true)", [String(principal)]);
    const r = await client.query('SELECT user_id, content_id FROM lms.progress ORDER BY user_id, content_id');
    await client.query('COMMIT');
    return r.rows.map((x) => `${x.user_id}:${x.content_id}`).join(' ') || '-';
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

module.exports = { makePool, statsFor };
