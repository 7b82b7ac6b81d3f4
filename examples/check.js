// examples/check.js: concurrent requests for different principals through
// the pool, each compared with what that principal must see; then requests
// without a principal, which must see nothing, also after a misbehaving
// client tried a session-level setting.
//   node check.js <expected.json> [requests]
'use strict';
const fs = require('fs');
const { makePool, statsFor } = require('./app');

async function main() {
  const expected = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const requests = Number(process.argv[3] || 600);
  const principals = Object.keys(expected);
  const pool = makePool({ host: process.env.APP_HOST, port: Number(process.env.APP_PORT),
                          user: 'app_server', database: process.env.APP_DB });
  let ok = 0, wrong = 0, failed = 0;
  const jobs = [];
  for (let i = 0; i < requests; i++) {
    const p = principals[i % principals.length];
    jobs.push(statsFor(pool, p).then(
      (rows) => { if (rows === expected[p]) ok++; else { wrong++; console.log(`wrong rows for ${p}: ${rows}`); } },
      (e) => { failed++; console.log(`request for ${p} failed: ${e.message}`); }));
  }
  await Promise.all(jobs);
  console.log(`concurrent requests: ${ok} right, ${wrong} wrong, ${failed} failed`);

  // a misbehaving client sets the principal for the whole server session
  const bad = await pool.connect();
  let refused = false;
  try {
    await bad.query("SET lms.principal = '101'");
    await bad.query('SELECT count(*) FROM lms.progress');
  } catch (e) {
    refused = e.code === '42501';
  } finally {
    bad.release();
  }
  console.log(`session-level principal refused: ${refused}`);

  // requests without a principal: nothing, or a refusal, never rows
  let leaked = 0, empty = 0, refusedLater = 0;
  const plain = [];
  for (let i = 0; i < 200; i++) {
    plain.push(pool.query('SELECT count(*)::int AS n FROM lms.progress').then(
      (r) => { if (r.rows[0].n === 0) empty++; else leaked++; },
      (e) => { if (e.code === '42501') refusedLater++; else leaked++; }));
  }
  await Promise.all(plain);
  console.log(`requests without a principal: ${empty} saw nothing, ${refusedLater} refused, ${leaked} saw rows`);
  await pool.end();
  const pass = wrong === 0 && failed === 0 && ok === requests && refused && leaked === 0;
  console.log(pass ? 'RESULT: pass' : 'RESULT: fail');
  process.exit(pass ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
