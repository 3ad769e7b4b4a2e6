-- Modify "events" table
ALTER TABLE "events" ADD COLUMN "position" bigint NULL, ADD COLUMN "published" boolean NOT NULL DEFAULT false;
-- Create index "event_issue_id_position" to table: "events"
CREATE INDEX "event_issue_id_position" ON "events" ("issue_id", "position");
-- Create index "event_project_id_position" to table: "events"
CREATE INDEX "event_project_id_position" ON "events" ("project_id", "position");
-- Create index "event_unpositioned" to table: "events"
CREATE INDEX "event_unpositioned" ON "events" ("id") WHERE ("position" IS NULL);
-- Create index "event_unpublished" to table: "events"
CREATE INDEX "event_unpublished" ON "events" ("position") WHERE (("position" IS NOT NULL) AND (NOT published));
-- Create index "events_position_key" to table: "events"
CREATE UNIQUE INDEX "events_position_key" ON "events" ("position");
