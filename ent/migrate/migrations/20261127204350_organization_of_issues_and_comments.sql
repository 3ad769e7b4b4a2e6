-- Issues and comments carry their organization's id, so privacy can filter
-- them by their own column; existing rows take it from their project. The
-- indexes that count a parent's rows include it, so counts stay index-only.
ALTER TABLE "issues" ADD COLUMN "organization_id" bigint NULL;
UPDATE "issues" SET "organization_id" = "projects"."organization_id" FROM "projects" WHERE "projects"."id" = "issues"."project_id";
ALTER TABLE "issues" ALTER COLUMN "organization_id" SET NOT NULL;
DROP INDEX "issue_project_id_updated_at";
CREATE INDEX "issue_project_id_updated_at" ON "issues" ("project_id", "updated_at") INCLUDE ("organization_id");
ALTER TABLE "comments" ADD COLUMN "organization_id" bigint NULL;
UPDATE "comments" SET "organization_id" = "issues"."organization_id" FROM "issues" WHERE "issues"."id" = "comments"."issue_id";
ALTER TABLE "comments" ALTER COLUMN "organization_id" SET NOT NULL;
DROP INDEX "comment_issue_id_created_at_id";
CREATE INDEX "comment_issue_id_created_at_id" ON "comments" ("issue_id", "created_at", "id") INCLUDE ("organization_id");
