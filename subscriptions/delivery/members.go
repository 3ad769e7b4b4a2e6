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

// memberCheck is one check of a memberKey by one query, which every
// subscriber of that viewer and organization may wait on.
type memberCheck struct {
	started time.Time     // when its query started; zero until then (under memberChecks.mu)
	done    chan struct{} // closed once ok and err are set
	ok      bool
	err     error
}

// wait returns the check's answer once its query has answered.
func (c *memberCheck) wait(ctx context.Context) (bool, error) {
	select {
	case <-c.done:
		return c.ok, c.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// memberChecksKept is how long a started check stays reusable by later
// deliveries (for events that arrived before it started): far longer than
// one fan-out takes, short enough that departed viewers are soon
// forgotten.
const memberChecksKept = 10 * time.Second

// memberChecks batches the membership checks subscriptions make before
// each delivery: when one event fans out to many local subscribers, their
// checks run as one query per organization instead of one each, and a
// viewer's subscriptions share one check. Every answer comes from a query
// that started after what it is asked for: after the event reached this
// instance (Entry.Received), or after the ask itself for events read
// from the log and for a subscription's start. So a membership revoked
// before an event arrived is never answered from an older read; a
// subscriber does not wait for a fresher read than another subscriber of
// the same viewer got for the same event.
type memberChecks struct {
	client *ent.Client

	mu      sync.Mutex
	pending map[memberKey]*memberCheck // asked for, not started yet
	latest  map[memberKey]*memberCheck // the last started, answered or not
	swept   time.Time                  // when latest last dropped old checks
	running bool                       // a flush goroutine is draining pending
}

func newMemberChecks(client *ent.Client) *memberChecks {
	return &memberChecks{client: client, pending: map[memberKey]*memberCheck{}, latest: map[memberKey]*memberCheck{}}
}

// isMember reports whether user belongs to org, from a query started
// after the call.
func (m *memberChecks) isMember(ctx context.Context, user, org int64) (bool, error) {
	return m.ask(user, org, time.Now()).wait(ctx)
}

// ask returns a check of whether user belongs to org whose query starts
// at or after since: one already started then, or the next one. It
// returns at once, so a caller can do other work while the check runs.
func (m *memberChecks) ask(user, org int64, since time.Time) *memberCheck {
	k := memberKey{user, org}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.latest[k]; c != nil && !c.started.Before(since) {
		return c
	}
	if c := m.pending[k]; c != nil {
		return c // it starts after now, so after since
	}
	c := &memberCheck{done: make(chan struct{})}
	m.pending[k] = c
	if !m.running {
		m.running = true
		// Owned by memberChecks: it runs while checks are pending and
		// returns as soon as none are.
		go m.flush()
	}
	return c
}

// flush answers pending checks, one batch per query, until none is left.
// Checks asked for while a query runs form the next batch.
func (m *memberChecks) flush() {
	for {
		m.mu.Lock()
		batch := m.pending
		if len(batch) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		m.pending = map[memberKey]*memberCheck{}
		now := time.Now()
		if now.Sub(m.swept) >= memberChecksKept {
			m.swept = now
			for k, c := range m.latest {
				if now.Sub(c.started) >= memberChecksKept {
					delete(m.latest, k)
				}
			}
		}
		for k, c := range batch {
			c.started = now
			m.latest[k] = c
		}
		m.mu.Unlock()

		users := map[int64][]int64{} // org -> users
		for k := range batch {
			users[k.org] = append(users[k.org], k.user)
		}
		found, err := m.query(users)
		if err != nil {
			// A failed check answers its batch, and no later ask: those
			// get a query of their own.
			m.mu.Lock()
			for k, c := range batch {
				if m.latest[k] == c {
					delete(m.latest, k)
				}
			}
			m.mu.Unlock()
		}
		for k, c := range batch {
			c.ok, c.err = found[k], err
			close(c.done)
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
