-- Modify "events" table
ALTER TABLE "events" ADD COLUMN "traceparent" character varying NULL, ADD COLUMN "tracestate" character varying NULL;
