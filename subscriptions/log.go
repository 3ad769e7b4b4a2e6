package subscriptions

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NotifyChannel is the PostgreSQL channel a mutation notifies in the
// transaction that records its events, so the relay wakes as soon as they
// commit.
const NotifyChannel = "issuegraph_events"

// Kind is what a stream follows.
type Kind string

// Stream kinds.
const (
	// ProjectStream carries every event of a project: its issues and their
	// comments, and the project itself.
	ProjectStream Kind = "project"
	// IssueStream carries the events of one issue and its comments.
	IssueStream Kind = "issue"
)

// Stream names one ordered stream of events.
type Stream struct {
	Kind Kind
	ID   int64
}

// Name is the stream's broker channel name, e.g. "project:42".
func (s Stream) Name() string { return string(s.Kind) + ":" + strconv.FormatInt(s.ID, 10) }

// column is the events column that selects the stream; Kind is never
// user input, so the column name is one of two constants.
func (s Stream) column() string {
	if s.Kind == IssueStream {
		return "issue_id"
	}
	return "project_id"
}

// Entry is one event as delivered to subscribers.
type Entry struct {
	// Position is the event's place in the total order of all events.
	Position int64 `json:"pos"`
	// Prev is the position of the stream's previous event (0: none). Only
	// live messages carry it; a subscriber whose last position differs
	// has missed something and reads the log instead.
	Prev           int64     `json:"prev,omitempty"`
	ID             int64     `json:"id"`
	Type           string    `json:"type"`
	OrganizationID int64     `json:"org,omitempty"`
	ProjectID      int64     `json:"project,omitempty"`
	IssueID        int64     `json:"issue,omitempty"`
	ActorID        int64     `json:"actor,omitempty"`
	SubjectID      int64     `json:"subject"`
	CreatedAt      time.Time `json:"at"`
	// TraceParent and TraceState are the W3C trace context of the mutation
	// that recorded the event (empty: none), so a delivery can link to it.
	TraceParent string `json:"tp,omitempty"`
	TraceState  string `json:"ts,omitempty"`
	// FromLog is set on events read from the log (a replay after a cursor
	// or a catch-up after a gap) rather than received live.
	FromLog bool `json:"-"`
	// Received is when this instance received a live event from the
	// broker (zero for events read from the log): a check made for it
	// must have started since (subscriptions/delivery's membership
	// checks).
	Received time.Time `json:"-"`
}

// cursorPrefix versions the cursor format; cursors are opaque to clients.
const cursorPrefix = "ev1:"

// Cursor returns the opaque cursor of a position.
func Cursor(position int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(position, 10)))
}

// ErrBadCursor is returned for a cursor this server did not issue.
var ErrBadCursor = errors.New("not an event cursor")

// ParseCursor returns the position inside a cursor.
func ParseCursor(cursor string) (int64, error) {
	if len(cursor) == 0 || len(cursor) > 64 {
		return 0, ErrBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, ErrBadCursor
	}
	num, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return 0, ErrBadCursor
	}
	p, err := strconv.ParseInt(num, 10, 64)
	if err != nil || p < 0 {
		return 0, ErrBadCursor
	}
	return p, nil
}

const entryColumns = `e.id, e.position, e.type, coalesce(e.organization_id, 0), coalesce(e.project_id, 0),
	coalesce(e.issue_id, 0), coalesce(e.actor_id, 0), e.subject_id, e.created_at,
	coalesce(e.traceparent, ''), coalesce(e.tracestate, '')`

type scanner interface{ Scan(dest ...any) error }

func scanEntry(s scanner, extra ...any) (Entry, error) {
	var e Entry
	dest := append([]any{&e.ID, &e.Position, &e.Type, &e.OrganizationID, &e.ProjectID, &e.IssueID, &e.ActorID, &e.SubjectID, &e.CreatedAt, &e.TraceParent, &e.TraceState}, extra...)
	err := s.Scan(dest...)
	e.CreatedAt = e.CreatedAt.UTC()
	return e, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readAfter returns up to limit events of stream after position, in order.
// Positions are assigned by one statement at a time and only ever grow, so
// what it reads has no holes: every event of the stream up to the last one
// returned is there.
func readAfter(ctx context.Context, q querier, s Stream, after int64, limit int) ([]Entry, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+entryColumns+` FROM events e
		WHERE e.`+s.column()+` = $1 AND e.position > $2 ORDER BY e.position LIMIT $3`, s.ID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading %s after %d: %w", s.Name(), after, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", s.Name(), err)
		}
		e.FromLog = true
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.Name(), err)
	}
	return out, nil
}

// head returns the position of the stream's last delivered-or-deliverable
// event (0 when it has none).
func head(ctx context.Context, q querier, s Stream) (int64, error) {
	var p int64
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE `+s.column()+` = $1`, s.ID).Scan(&p)
	if err != nil {
		return 0, fmt.Errorf("reading head of %s: %w", s.Name(), err)
	}
	return p, nil
}
