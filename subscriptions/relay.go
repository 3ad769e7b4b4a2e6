package subscriptions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/lib/pq"

	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

// relayLockID is the PostgreSQL advisory lock held by the one relay that
// assigns positions and publishes; the relays of other instances stand by.
const relayLockID int64 = 7_301_912_200_003 // arbitrary, fixed

// RelayOptions configures a Relay; zero values get defaults.
type RelayOptions struct {
	// DatabaseURL is where the relay LISTENs for NotifyChannel; empty
	// disables LISTEN and leaves the polling fallback.
	DatabaseURL string
	// PollInterval is how often the relay looks for work when no
	// notification arrives, and how often a standby tries to take over.
	PollInterval time.Duration
	// BatchSize bounds the events positioned or published per statement.
	BatchSize int
	// Retention is how long events are kept once published; zero keeps
	// them forever.
	Retention time.Duration
	Logger    *slog.Logger
}

// Relay is the outbox relay. One relay in the cluster at a time (the holder
// of an advisory lock) assigns positions 1, 2, 3, ... to committed events in
// the order it sees them, then publishes each to the broker streams of its
// project and issue. Because only committed rows are visible and the
// positions are assigned by one statement, a reader never sees a hole in
// the order; because publishing is marked in the table, a relay that takes
// over resumes where the last one stopped.
type Relay struct {
	db     *sql.DB
	broker broker.Broker
	opts   RelayOptions
	log    *slog.Logger
}

// NewRelay returns a relay over db publishing to b.
func NewRelay(db *sql.DB, b broker.Broker, opts RelayOptions) *Relay {
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Relay{db: db, broker: b, opts: opts, log: opts.Logger}
}

// Run relays events until ctx ends. Errors are logged and retried: the
// relay must outlive database and Redis outages.
func (r *Relay) Run(ctx context.Context) {
	wake := make(chan struct{}, 1)
	if r.opts.DatabaseURL != "" {
		stop := r.listen(ctx, wake)
		defer stop()
	}
	for ctx.Err() == nil {
		led, err := r.lead(ctx, wake)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("event relay: stepping down after an error", "error", err)
		}
		if !led || err != nil {
			sleep(ctx, r.opts.PollInterval)
		}
	}
}

// listen forwards notifications on NotifyChannel to wake until ctx ends.
// pq's listener reconnects by itself; a reconnect sends nil, which wakes
// the relay too, as notifications may have been lost.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) (stop func()) {
	l := pq.NewListener(r.opts.DatabaseURL, 100*time.Millisecond, 5*time.Second, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Listen waits for the listener's first connection, for as long
		// as the database is unreachable: here, not in Run, so the relay
		// polls meanwhile and stop (Close) ends the wait.
		if err := l.Listen(NotifyChannel); err != nil && !errors.Is(err, net.ErrClosed) {
			r.log.Warn("event relay: LISTEN failed; polling only until it reconnects", "error", err)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-l.Notify:
				if !ok {
					return
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
	}()
	return func() {
		_ = l.Close() // closes l.Notify only after the goroutine may stop reading
		<-done
	}
}

// lead takes the relay lock on a dedicated connection and, while it holds
// it, positions and publishes events. It reports whether it led. All work
// runs on the locked connection, so losing it (and the lock) ends the work.
func (r *Relay) lead(ctx context.Context, wake <-chan struct{}) (bool, error) {
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("relay connection: %w", err)
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, relayLockID).Scan(&locked); err != nil {
		return false, fmt.Errorf("taking relay lock: %w", err)
	}
	if !locked {
		return false, nil
	}
	defer func() {
		// Returning the connection to the pool keeps the session, so the
		// lock must be released explicitly (it also ends with the session).
		// Bounded: an unreachable database must not hold up shutdown.
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(unlockCtx, `SELECT pg_advisory_unlock($1)`, relayLockID)
	}()
	r.log.Info("event relay: leading")
	retry := time.Duration(0)
	lastPrune := time.Time{}
	for ctx.Err() == nil {
		assigned, err := r.assign(ctx, conn)
		if err != nil {
			return true, err
		}
		published, pubErr := r.publish(ctx, conn)
		if pubErr != nil && !errors.Is(pubErr, errBroker) {
			return true, pubErr
		}
		if r.opts.Retention > 0 && time.Since(lastPrune) > time.Minute {
			if err := r.prune(ctx, conn); err != nil {
				return true, err
			}
			lastPrune = time.Now()
		}
		switch {
		case pubErr != nil:
			// The broker is down: events wait in the table; retry with a
			// growing delay instead of hammering it.
			retry = min(max(2*retry, 100*time.Millisecond), 2*time.Second)
			r.log.Debug("event relay: publish failed; will retry", "error", pubErr, "in", retry.String())
			sleep(ctx, retry)
			continue
		case assigned == r.opts.BatchSize || published == r.opts.BatchSize:
			retry = 0
			continue // more work is waiting
		}
		retry = 0
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(r.opts.PollInterval):
		}
	}
	return true, nil
}

// assign gives the next positions to committed events that have none, in
// id order among those visible now. Events committed later (even with a
// smaller id) get later positions.
func (r *Relay) assign(ctx context.Context, conn *sql.Conn) (int, error) {
	res, err := conn.ExecContext(ctx, `
		WITH next AS (
			SELECT id, row_number() OVER (ORDER BY id) AS n
			FROM events WHERE position IS NULL ORDER BY id LIMIT $1
		), base AS (SELECT coalesce(max(position), 0) AS p FROM events)
		UPDATE events e SET position = base.p + next.n FROM next, base WHERE e.id = next.id`, r.opts.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("assigning event positions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("assigning event positions: %w", err)
	}
	return int(n), nil
}

// errBroker marks a publish failure that is the broker's, not the
// database's.
var errBroker = errors.New("broker unavailable")

// publish sends positioned, unpublished events to their streams in
// position order and marks them published. It stops at the first broker
// failure, keeping what is left for the next round.
func (r *Relay) publish(ctx context.Context, conn *sql.Conn) (int, error) {
	rows, err := conn.QueryContext(ctx, `SELECT `+entryColumns+`,
		coalesce((SELECT max(p.position) FROM events p WHERE p.project_id = e.project_id AND p.position < e.position), 0),
		coalesce((SELECT max(p.position) FROM events p WHERE p.issue_id = e.issue_id AND p.position < e.position), 0)
		FROM events e WHERE e.published = false AND e.position IS NOT NULL ORDER BY e.position LIMIT $1`, r.opts.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("reading unpublished events: %w", err)
	}
	type pending struct {
		e                    Entry
		prevProject, prevIss int64
	}
	var batch []pending
	for rows.Next() {
		var p pending
		if p.e, err = scanEntry(rows, &p.prevProject, &p.prevIss); err != nil {
			rows.Close()
			return 0, fmt.Errorf("reading unpublished events: %w", err)
		}
		batch = append(batch, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading unpublished events: %w", err)
	}
	var done int64
	var pubErr error
	for _, p := range batch {
		if p.e.ProjectID != 0 {
			if pubErr = r.send(ctx, Stream{ProjectStream, p.e.ProjectID}, p.e, p.prevProject); pubErr != nil {
				break
			}
		}
		if p.e.IssueID != 0 {
			if pubErr = r.send(ctx, Stream{IssueStream, p.e.IssueID}, p.e, p.prevIss); pubErr != nil {
				break
			}
		}
		done = p.e.Position
	}
	if done > 0 {
		if _, err := conn.ExecContext(ctx, `UPDATE events SET published = true
			WHERE published = false AND position IS NOT NULL AND position <= $1`, done); err != nil {
			return 0, fmt.Errorf("marking events published: %w", err)
		}
	}
	if pubErr != nil {
		return 0, fmt.Errorf("%w: %w", errBroker, pubErr)
	}
	return len(batch), nil
}

func (r *Relay) send(ctx context.Context, s Stream, e Entry, prev int64) error {
	e.Prev = prev
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding event %d: %w", e.ID, err)
	}
	return r.broker.Publish(ctx, s.Name(), payload)
}

// prune deletes published events older than the retention, a bounded
// batch at a time so it never holds long locks.
func (r *Relay) prune(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, `DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE published AND created_at < now() - make_interval(secs => $1) LIMIT 10000)`,
		r.opts.Retention.Seconds())
	if err != nil {
		return fmt.Errorf("pruning events: %w", err)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
