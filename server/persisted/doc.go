// Package persisted runs persisted operations: trusted documents that
// client apps register ahead of time from their manifests (kept in
// PostgreSQL, so every instance trusts the same list, and cached by each
// instance), and Automatic Persisted Queries (the store subpackage). Its
// Extension turns a hash (extensions.persistedQuery, or a documentId the
// transport rewrote) into the document to run, and in enforce mode
// refuses any other; DocumentCache keeps parsed trusted documents apart
// from arbitrary text.
package persisted
