// Package loaders holds the per-request dataloaders that batch the reads of
// GraphQL field resolvers: objects by id, and the pages and sizes of lists
// per parent. A Loaders value lives for one request (or one subscription
// event), so a batch never mixes two viewers and always runs with its own
// request's context: every batch reads through ent with that context, so
// ent privacy sees the request's viewer.
package loaders
