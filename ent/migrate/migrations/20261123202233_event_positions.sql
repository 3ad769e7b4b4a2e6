-- Modify "events" table
ALTER TABLE "events" ADD COLUMN "position" bigint NULL, ADD COLUMN "published" boolean NOT NULL DEFAULT false;
-- Create index "event_issue_id_position" to table: "events"
CREATE INDEX "event_issue_id_position" ON "events" ("issue_id", "position");
-- Create index "event_project_id_position" to table: "events"
CREATE INDEX "event_project_id_position" ON "events" ("project_id", "position");
-- Create index "event_published_position" to table: "events"
CREATE INDEX "event_published_position" ON "events" ("published", "position");
-- Create index "events_position_key" to table: "events"
CREATE UNIQUE INDEX "events_position_key" ON "events" ("position");
