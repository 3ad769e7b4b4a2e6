package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// accounts tells whether the user an access token names still exists: a
// token outlives the account it was issued to by up to its lifetime, and
// its requests must be refused with 401 rather than run as nobody. An
// answer is kept for ttl per instance, so a busy user costs one lookup a
// second, and a deleted account is refused within ttl everywhere.
type accounts struct {
	client *ent.Client
	ttl    time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[int64]time.Time // user id -> when it was last found
}

func newAccounts(client *ent.Client, ttl time.Duration) *accounts {
	return &accounts{client: client, ttl: ttl, now: time.Now, seen: map[int64]time.Time{}}
}

// exists reports whether user id exists; an error when the database could
// not say.
func (a *accounts) exists(ctx context.Context, id int64) (bool, error) {
	now := a.now()
	a.mu.Lock()
	at, ok := a.seen[id]
	a.mu.Unlock()
	if ok && now.Sub(at) < a.ttl {
		return true, nil
	}
	// Its own statement counter: the lookup is the server's, not a
	// statement of the operation the request runs.
	ctx, _ = database.WithStatementCounter(ctx)
	found, err := a.client.User.Query().Where(user.ID(id)).Exist(viewer.SystemContext(ctx))
	if err != nil {
		return false, fmt.Errorf("looking up user %d: %w", id, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !found {
		delete(a.seen, id)
		return false, nil
	}
	if len(a.seen) > 100_000 {
		for k, t := range a.seen {
			if now.Sub(t) >= a.ttl {
				delete(a.seen, k)
			}
		}
	}
	a.seen[id] = now
	return true, nil
}
