package auth

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/apikey"
	"github.com/issuegraph/issuegraph/ent/ent/refreshtoken"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// Revocations is an instance's copy of the credentials revoked recently
// enough that something issued before the revocation may still be
// presented: sessions (refresh-token families, the `sid` of their access
// tokens) revoked by logOut or by refresh-token reuse, and API keys. A
// check is a map lookup, so the hot path costs no round trip.
//
// PostgreSQL is the shared record: refresh_tokens.revoked_at and
// api_keys.revoked_at are written in the revoking transaction. Every
// instance learns of a revocation two ways:
//
//   - at once, through Redis pub/sub, when the instance that revoked
//     publishes it (Add);
//   - within the poll interval (1 s), by reading what PostgreSQL says was
//     revoked within the window: the backstop for a message lost while
//     Redis was unreachable or its subscription reconnecting, for API keys
//     (revoked by the resolvers, which do not publish), and the only way
//     without Redis.
//
// So Redis being down costs latency (up to the poll interval), never a
// revocation: no fail-open window. While PostgreSQL is unreachable the
// copy keeps what it has (entries are dropped only once the window has
// passed) and requests that need the database fail UNAVAILABLE anyway.
type Revocations struct {
	client  *ent.Client
	rdb     *redis.Client // nil: no other instance to tell
	channel string
	window  time.Duration
	poll    time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu        sync.RWMutex
	revoked   map[string]time.Time // key -> when it may be forgotten
	listeners []func(keys []string)
}

// RevocationOptions configure Revocations.
type RevocationOptions struct {
	// Channel is the Redis pub/sub channel the instances share.
	Channel string
	// Window is how long a revocation is kept: the access tokens'
	// lifetime plus a margin for clock skew between instances.
	Window time.Duration
	// Poll is how often PostgreSQL is read; 1 s when zero.
	Poll   time.Duration
	Logger *slog.Logger
}

// NewRevocations returns an empty copy; Load fills it and Run keeps it
// current.
func NewRevocations(client *ent.Client, rdb *redis.Client, o RevocationOptions) *Revocations {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Revocations{
		client: client, rdb: rdb, channel: o.Channel, window: o.Window, poll: o.Poll, log: o.Logger,
		now: time.Now, revoked: map[string]time.Time{},
	}
}

// SessionKey names a session (a refresh-token family) in the set.
func SessionKey(session string) string { return "s:" + session }

// APIKeyKey names an API key in the set.
func APIKeyKey(id int64) string { return "k:" + strconv.FormatInt(id, 10) }

// ViewerKey names the credential a viewer authenticated with: its session
// or its API key; "" when there is none to revoke (anonymous, system, or
// an access token issued without a session id).
func ViewerKey(v viewer.Viewer) string {
	switch {
	case v.APIKey != nil:
		return APIKeyKey(v.APIKey.ID)
	case v.Session != "":
		return SessionKey(v.Session)
	}
	return ""
}

// Revoked reports whether key has been revoked.
func (r *Revocations) Revoked(key string) bool {
	r.mu.RLock()
	_, ok := r.revoked[key]
	r.mu.RUnlock()
	return ok
}

// OnRevoke registers fn to be told of each newly revoked key (from any
// instance), so open subscriptions of it can be closed. fn runs on the
// goroutine that learnt of the revocation and must not block.
func (r *Revocations) OnRevoke(fn func(keys []string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listeners = append(r.listeners, fn)
}

// Add records keys as revoked on this instance at once and tells the other
// instances. A failed publish is only logged: the others read it from
// PostgreSQL within the poll interval.
func (r *Revocations) Add(ctx context.Context, keys ...string) {
	r.merge(keys)
	if r.rdb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
	defer cancel()
	for _, k := range keys {
		if err := r.rdb.Publish(ctx, r.channel, k).Err(); err != nil {
			r.log.WarnContext(ctx, "publishing a revocation; other instances read it from PostgreSQL within a second", "error", err)
			return
		}
	}
}

// merge adds keys and tells the listeners about the new ones.
func (r *Revocations) merge(keys []string) {
	forget := r.now().Add(r.window)
	var added []string
	r.mu.Lock()
	for _, k := range keys {
		if _, ok := r.revoked[k]; !ok {
			added = append(added, k)
		}
		r.revoked[k] = forget
	}
	listeners := r.listeners
	r.mu.Unlock()
	if len(added) == 0 {
		return
	}
	for _, fn := range listeners {
		fn(added)
	}
}

// Load reads what PostgreSQL says was revoked within the window, and
// forgets what is older.
func (r *Revocations) Load(ctx context.Context) error {
	now := r.now()
	since := now.Add(-r.window)
	ctx = viewer.SystemContext(ctx)
	families, err := r.client.RefreshToken.Query().Where(refreshtoken.RevokedAtGT(since)).
		Unique(true).Select(refreshtoken.FieldFamily).Strings(ctx)
	if err != nil {
		return fmt.Errorf("reading revoked sessions: %w", err)
	}
	keyIDs, err := r.client.APIKey.Query().Where(apikey.RevokedAtGT(since)).IDs(ctx)
	if err != nil {
		return fmt.Errorf("reading revoked API keys: %w", err)
	}
	keys := make([]string, 0, len(families)+len(keyIDs))
	for _, f := range families {
		keys = append(keys, SessionKey(f))
	}
	for _, id := range keyIDs {
		keys = append(keys, APIKeyKey(id))
	}
	r.mu.Lock()
	for k, forget := range r.revoked {
		if now.After(forget) {
			delete(r.revoked, k)
		}
	}
	r.mu.Unlock()
	r.merge(keys)
	return nil
}

// Run keeps the copy current until ctx ends: Redis messages as they come,
// PostgreSQL every poll interval.
func (r *Revocations) Run(ctx context.Context) {
	var messages <-chan *redis.Message
	if r.rdb != nil {
		// go-redis resubscribes by itself after a lost connection; what
		// was published meanwhile is read from PostgreSQL.
		ps := r.rdb.Subscribe(ctx, r.channel)
		defer ps.Close()
		messages = ps.Channel()
	}
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-messages:
			if !ok {
				messages = nil
				continue
			}
			r.merge([]string{m.Payload})
		case <-tick.C:
			err := r.Load(ctx)
			if err != nil && !failing && ctx.Err() == nil {
				r.log.WarnContext(ctx, "reading revocations; keeping the last copy", "error", err)
			}
			failing = err != nil
		}
	}
}
