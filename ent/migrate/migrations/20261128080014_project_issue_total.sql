-- Projects keep how many issues they have, so a page of a project's issues
-- reads its totalCount from the project row; existing projects count theirs.
ALTER TABLE "projects" ADD COLUMN "issue_total" bigint NOT NULL DEFAULT 0;
UPDATE "projects" SET "issue_total" = (SELECT count(*) FROM "issues" WHERE "issues"."project_id" = "projects"."id");
