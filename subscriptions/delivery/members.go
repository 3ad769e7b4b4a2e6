package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/predicate"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// memberKey is one (user, organization) pair to check.
type memberKey struct{ user, org int64 }

type memberResult struct {
	ok  bool
	err error
}

// memberChecks batches the membership checks subscriptions make before
// each delivery: when one event fans out to many local subscribers, their
// checks run as one query per organization instead of one each. Every
// result comes from a query that started after the check was asked for,
// so a revoked membership is never answered from an older read.
type memberChecks struct {
	client *ent.Client

	mu      sync.Mutex
	pending map[memberKey][]chan memberResult
	running bool // a flush goroutine is draining pending
}

func newMemberChecks(client *ent.Client) *memberChecks {
	return &memberChecks{client: client, pending: map[memberKey][]chan memberResult{}}
}

// isMember reports whether user belongs to org.
func (m *memberChecks) isMember(ctx context.Context, user, org int64) (bool, error) {
	return m.ask(user, org).wait(ctx)
}

// memberAnswer is the answer to a check asked for, to wait for later.
type memberAnswer chan memberResult

func (a memberAnswer) wait(ctx context.Context) (bool, error) {
	select {
	case r := <-a:
		return r.ok, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// ask starts checking whether user belongs to org and returns at once, so
// a caller can do other work while the check runs.
func (m *memberChecks) ask(user, org int64) memberAnswer {
	ch := make(chan memberResult, 1)
	m.mu.Lock()
	k := memberKey{user, org}
	m.pending[k] = append(m.pending[k], ch)
	if !m.running {
		m.running = true
		// Owned by memberChecks: it runs while checks are pending and
		// returns as soon as none are.
		go m.flush()
	}
	m.mu.Unlock()
	return ch
}

// flush answers pending checks, one batch per query, until none is left.
// Checks arriving while a query runs form the next batch.
func (m *memberChecks) flush() {
	for {
		m.mu.Lock()
		batch := m.pending
		if len(batch) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		m.pending = map[memberKey][]chan memberResult{}
		m.mu.Unlock()

		users := map[int64][]int64{} // org -> users
		for k := range batch {
			users[k.org] = append(users[k.org], k.user)
		}
		found, err := m.query(users)
		for k, chans := range batch {
			r := memberResult{ok: found[k], err: err}
			for _, ch := range chans {
				ch <- r // buffered, one send each
			}
		}
	}
}

func (m *memberChecks) query(users map[int64][]int64) (map[memberKey]bool, error) {
	// Not tied to one subscriber's context: the batch serves many. It is
	// the authorization check itself, so it reads as the system.
	ctx, cancel := context.WithTimeout(viewer.SystemContext(context.Background()), 10*time.Second)
	defer cancel()
	or := make([]predicate.Membership, 0, len(users))
	for org, us := range users {
		or = append(or, membership.And(membership.OrganizationID(org), membership.UserIDIn(us...)))
	}
	rows, err := m.client.Membership.Query().Where(membership.Or(or...)).
		Select(membership.FieldUserID, membership.FieldOrganizationID).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking memberships: %w", err)
	}
	found := make(map[memberKey]bool, len(rows))
	for _, r := range rows {
		found[memberKey{r.UserID, r.OrganizationID}] = true
	}
	return found, nil
}
