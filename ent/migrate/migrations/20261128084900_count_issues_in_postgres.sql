-- PostgreSQL counts each project's issues into issue_total itself, so every
-- writer keeps the count: this build, an older one during a rolling deploy
-- (which knows nothing of the column), a bulk COPY, a cascade. The triggers
-- run once per statement over its transition table, so a COPY of thousands
-- of issues is one UPDATE per project. The recount fixes any count an older
-- build's writes left behind since the column was added.
CREATE FUNCTION "count_project_issues"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE "projects" SET "issue_total" = "projects"."issue_total" + "counted"."n"
    FROM (SELECT "project_id", count(*) AS "n" FROM "inserted_issues" GROUP BY "project_id") AS "counted"
    WHERE "projects"."id" = "counted"."project_id";
  ELSE
    UPDATE "projects" SET "issue_total" = "projects"."issue_total" - "counted"."n"
    FROM (SELECT "project_id", count(*) AS "n" FROM "deleted_issues" GROUP BY "project_id") AS "counted"
    WHERE "projects"."id" = "counted"."project_id";
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER "issues_inserted_counted" AFTER INSERT ON "issues" REFERENCING NEW TABLE AS "inserted_issues" FOR EACH STATEMENT EXECUTE FUNCTION "count_project_issues"();
CREATE TRIGGER "issues_deleted_counted" AFTER DELETE ON "issues" REFERENCING OLD TABLE AS "deleted_issues" FOR EACH STATEMENT EXECUTE FUNCTION "count_project_issues"();
UPDATE "projects" SET "issue_total" = (SELECT count(*) FROM "issues" WHERE "issues"."project_id" = "projects"."id");
