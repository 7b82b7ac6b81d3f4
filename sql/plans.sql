-- The plans the row-level security policies rely on: the principal is
-- resolved once per statement (an InitPlan), and the policy applies to
-- every scan of the protected tables.
SET ROLE NONE;
CREATE ROLE lms_plan_reader;
SELECT lms.bind_role('lms_plan_reader', 103);
SET ROLE lms_plan_reader;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
EXPLAIN (COSTS OFF) SELECT * FROM lms.progress WHERE user_id = 120;
EXPLAIN (COSTS OFF) SELECT * FROM lms.users WHERE email = 'eve@acme.test';
-- a user's non-leakproof predicate runs after the policy, never before it
EXPLAIN (COSTS OFF) SELECT * FROM lms.progress WHERE 1 / (score - 37) > 0;
-- scores 88 and 95 belong to rows hidden from this principal: no error
SELECT count(*) FROM lms.progress WHERE 1 / (score - 88) > 0;
SELECT count(*) FROM lms.progress WHERE 1 / (score - 95) > 0;
RESET ROLE;
DROP OWNED BY lms_plan_reader;
SELECT lms.unbind_role('lms_plan_reader');
DROP ROLE lms_plan_reader;
