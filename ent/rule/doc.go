// Package rule holds the privacy rules the ent schemas' policies are made of.
// Authorization lives here, at the data layer, so every path that reads or
// writes through ent — root fields, node lookups, nested edges, dataloader
// batches, counts, subscription events — obeys the same rules.
//
// Reads are filtered, never refused: a query only ever returns rows of
// organizations the viewer belongs to, so an object the viewer may not see
// simply does not exist for them. Writes are decided per operation from the
// viewer's role in the organization the changed object belongs to: a target
// the viewer cannot see fails with ErrNotFound, a visible target the viewer
// may not change fails with a plain privacy denial (FORBIDDEN to clients).
package rule
