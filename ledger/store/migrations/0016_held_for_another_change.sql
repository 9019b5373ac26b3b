-- Held for the migration of a change made alongside this one (the proposals' comments
-- are 0017). Migrations are numbered without gaps; when the change that owns 0016 is
-- merged, its own file replaces this one.
SELECT 1;
