// Package store keeps the text of Automatic Persisted Queries under its SHA-256
// hash: in Redis, so that a query sent once is known to every instance, or in an
// in-process LRU for a single instance running without Redis.
//
// Storage for Automatic Persisted Queries: query text by the lowercase hex SHA-256
// of its text.
//
//   - `NewRedis(client, prefix, ttl, opts...)`: shared by every instance; `SET` with
//     the ttl (default 24h) renewed by each `Add`. Every call returns within
//     `WithTimeout` (default 100ms); failures wrap `ErrUnavailable`.
//   - `NewLRU(size, opts...)`: in process, at most `size` queries (default 1000).
//   - `Add` refuses a query above `WithMaxQueryBytes` (default 50 KiB, `ErrTooLarge`)
//     and a hash that is not the query's SHA-256 (`ErrHashMismatch`); `Get` answers a
//     miss for a string that cannot be a hash without asking Redis.
//
// # Benchmarks
//
//	go test -run '^$' -bench . -benchmem -count=3 ./server/persisted/store/
//
// (2-core AMD EPYC shared with other builds, Redis 7.0 on loopback, 2 KB query):
//
//	| benchmark | ns/op | B/op | allocs/op |
//	| --- | --- | --- | --- |
//	| Get/lru | 20–23 | 0 | 0 |
//	| Get/redis | 50 000–74 000 | 3224 | 17 |
package store
