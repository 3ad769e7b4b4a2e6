-- Create index "apikey_revoked_at" to table: "api_keys"
CREATE INDEX "apikey_revoked_at" ON "api_keys" ("revoked_at");
-- Create index "refreshtoken_revoked_at" to table: "refresh_tokens"
CREATE INDEX "refreshtoken_revoked_at" ON "refresh_tokens" ("revoked_at");
