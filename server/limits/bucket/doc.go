// Package bucket meters the cost of requests per viewer with token buckets: a
// bucket holds up to Capacity points, a request spends its cost, and points come
// back at RestoreRate per second. Buckets live in Redis, so every instance shares
// one budget per viewer, or in process when a single instance runs without Redis.
//
// Cost-based token buckets per viewer key (`user:42`, `apikey:7`, `ip:1.2.3.4`).
//
//   - `NewRedis(client, prefix, opts...)`: one Lua script per call refills by elapsed
//     Redis server time, then charges, refunds or peeks. State is a hash
//     `{tokens, ts}` under `prefix+key`; a full bucket is deleted and any other one
//     expires when it would be full again (at most 24h), so idle viewers cost nothing.
//     Every call returns within `WithTimeout` (default 100ms) even when Redis hangs and
//     the client ignores context deadlines; failures wrap `ErrUnavailable`.
//   - `NewMemory(opts...)`: the same behaviour in process for an instance without
//     Redis, in a mutex-guarded LRU of at most `WithMaxKeys` buckets (default 100000);
//     each call also drops up to two least recently used buckets that have refilled.
//
// A cost above the capacity is refused with `Result.NeverFits`. go-redis retries a
// command after a network error, so a charge can be counted twice (towards refusing);
// a client with `MaxRetries: -1` avoids it.
//
// # Benchmarks
//
//	go test -run '^$' -bench . -benchmem -count=3 ./server/limits/bucket/
//
// (2-core AMD EPYC shared with other builds, Redis 7.0 on loopback):
//
//	| benchmark | ns/op | B/op | allocs/op |
//	| --- | --- | --- | --- |
//	| Charge/memory | 152–159 | 0 | 0 |
//	| Charge/memory-parallel (1000 keys) | 193–215 | 0 | 0 |
//	| Charge/redis | 100 000–141 000 | 1264 | 27 |
//	| Charge/redis-parallel (1000 keys) | 70 000–97 000 | 1270 | 27 |
package bucket
