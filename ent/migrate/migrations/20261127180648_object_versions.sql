-- Modify "comments" table
ALTER TABLE "comments" ADD COLUMN "version" bigint NOT NULL DEFAULT 1;
-- Modify "issues" table
ALTER TABLE "issues" ADD COLUMN "version" bigint NOT NULL DEFAULT 1;
-- Modify "labels" table
ALTER TABLE "labels" ADD COLUMN "version" bigint NOT NULL DEFAULT 1;
-- Modify "organizations" table
ALTER TABLE "organizations" ADD COLUMN "version" bigint NOT NULL DEFAULT 1;
-- Modify "projects" table
ALTER TABLE "projects" ADD COLUMN "version" bigint NOT NULL DEFAULT 1;
