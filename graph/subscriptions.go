package graph

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/99designs/gqlgen/graphql"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/loaders"
	"github.com/issuegraph/issuegraph/subscriptions"
)

// WithEvents lets subscriptions follow streams through feed. A client that
// does not take an event within sendTimeout is ended as a slow consumer
// (it can resume with its cursor).
func WithEvents(feed *subscriptions.Feed, sendTimeout time.Duration) Option {
	return func(r *Resolver) {
		r.feed, r.sendTimeout = feed, sendTimeout
		r.members = newMemberChecks(r.client)
		r.loads = newEventLoads()
	}
}

// WithEventLoaders sets the options of the fresh loaders each burst of
// delivered events gets (see deliver).
func WithEventLoaders(opts loaders.Options) Option {
	return func(r *Resolver) { r.eventLoaders = opts }
}

// Why a subscription ends early, besides the feed's errors.
var (
	errNotMember  = &Error{Code: CodeForbidden, Message: "you are not a member of this organization"}
	errSlowClient = errors.New("client did not take events fast enough")
)

// subscribe starts following stream for the signed-in viewer, a member of
// organization orgID, after the cursor when one is given.
func (r *Resolver) subscribe(ctx context.Context, stream subscriptions.Stream, orgID int64, after *string) (<-chan *model.Event, error) {
	if r.feed == nil {
		return nil, Errorf(CodeUnavailable, "subscriptions are not enabled on this server")
	}
	userID, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.checkMember(ctx, userID, orgID); err != nil {
		return nil, err
	}
	start := int64(-1)
	if after != nil {
		if start, err = r.feed.CheckCursor(ctx, stream, *after); err != nil {
			return nil, subscriptionError(err, 0)
		}
	}
	want := selectedEventFields(ctx)
	ch := make(chan *model.Event)
	p := pacerFrom(ctx)
	if p != nil {
		// The transport takes each event on deliver's goroutine right
		// after it is sent (pace): the send must not wait for it.
		ch = make(chan *model.Event, 1)
		p.Paced()
	}
	h := handoffFrom(ctx)
	h.arm()
	// No goroutine waits for the stream's events: the feed runs deliver
	// (and then end) on a short-lived one when there is something to send,
	// so an idle subscription holds none of its own.
	var last int64
	r.feed.Start(ctx, stream, start, func(entries []subscriptions.Entry) error {
		return r.deliver(ctx, h, p, stream, userID, orgID, want, entries, ch, &last)
	}, func(err error) {
		defer pace(p) // runs last: the transport reads the closed channel
		defer close(ch)
		defer h.close() // runs first: nothing waits for a span once ch closes
		if err == nil || ctx.Err() != nil {
			return
		}
		// The error travels as a last event, not beside the channel, so
		// no transport reads it while it is being written. It is no
		// delivered event and has no span of its own.
		h.close()
		end := model.EndEvent(r.endError(ctx, err, last))
		timer := time.NewTimer(r.sendTimeout)
		defer timer.Stop()
		select {
		case ch <- end:
			pace(p)
		case <-ctx.Done():
		case <-timer.C:
		}
	})
	return ch, nil
}

// deliver checks the viewer may still see the organization, loads the
// events' objects in a few queries and hands the events to the transport,
// each with its span (graph/deliveries.go) through h. The membership
// check and the load run at the same time (one database round trip less
// before delivery); nothing is sent before the check answers, and the load
// reads with the viewer's privacy anyway.
func (r *Resolver) deliver(ctx context.Context, h *handoff, p Pacer, stream subscriptions.Stream, userID, orgID int64, want eventFields, entries []subscriptions.Entry, ch chan<- *model.Event, last *int64) (err error) {
	spans := r.deliverySpans(ctx, stream, entries)
	taken := 0 // spans[:taken] were handed over or ended
	defer func() {
		if ctx.Err() != nil {
			err = nil // the subscriber left: no failure of the delivery
		}
		endSpans(spans[taken:], err)
	}()
	// The check and the load serve the whole batch; the load's statements
	// are traced under its first event.
	evCtx := trace.ContextWithSpan(ctx, spans[0])
	member := r.members.ask(userID, orgID)
	key := eventLoadKey{user: userID, want: want, first: entries[0].Position, last: entries[len(entries)-1].Position}
	events, err := r.loads.load(key, func() ([]*model.Event, error) {
		// Shared with the viewer's other subscriptions: one of them ending
		// must not fail the load for the rest.
		loadCtx, cancel := context.WithTimeout(context.WithoutCancel(evCtx), 10*time.Second)
		defer cancel()
		return r.loadEvents(loadCtx, want, entries)
	})
	ok, memberErr := member.wait(ctx)
	switch {
	case memberErr != nil:
		return memberErr
	case !ok:
		return errNotMember
	case err != nil:
		return err
	}
	loaders.Deliver(ctx, func() *loaders.Loaders { return r.burstLoaders(events) })
	timer := time.NewTimer(r.sendTimeout)
	defer timer.Stop()
	for i, ev := range events {
		if h != nil {
			if err := h.give(ctx, spans[i], timer.C); err != nil {
				return err
			}
			taken = i + 1 // the transport ends it once it has resolved ev
		}
		select {
		case ch <- ev:
			*last = entries[i].Position
			pace(p)
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return errSlowClient
		}
		if h == nil {
			// Nothing resolves ev under its span: it covers the delivery
			// up to the transport taking ev.
			spans[i].End()
			taken = i + 1
		}
	}
	return nil
}

func (r *Resolver) checkMember(ctx context.Context, userID, orgID int64) error {
	ok, err := r.members.isMember(ctx, userID, orgID)
	if err != nil {
		return err
	}
	if !ok {
		return errNotMember
	}
	return nil
}

// burstLoaders returns fresh loaders for the events of one burst, holding
// the objects already loaded for them and knowing them as peers, so the
// nested fields of every event in the burst (issue.assignee, issue.labels,
// comment.author, ...) load in one batch per edge, not one per event. They
// are made after the burst's events committed and serve only this burst:
// nothing read for one burst is shown for a later event.
func (r *Resolver) burstLoaders(events []*model.Event) *loaders.Loaders {
	l := loaders.New(r.client, r.eventLoaders)
	ctx := context.Background() // Prime only uses it to reach the cache
	seen := map[any]bool{}
	var peers []any
	add := func(obj any) {
		if seen[obj] {
			return
		}
		seen[obj] = true
		peers = append(peers, obj)
		switch o := obj.(type) {
		case *ent.Issue:
			l.Issue.Prime(ctx, o.ID, o)
		case *ent.Project:
			l.Project.Prime(ctx, o.ID, o)
		}
	}
	for _, ev := range events {
		if actor, _ := ev.Actor(); actor != nil {
			l.User.Prime(ctx, actor.ID, actor)
		}
		if issue, _ := ev.Issue(); issue != nil {
			add(issue)
		}
		if subject, _ := ev.Subject(); subject != nil {
			add(subject)
		}
	}
	l.Peers.Add(peers...)
	return l
}

// loadEvents builds the events of entries, loading each kind of object
// once per batch rather than once per event.
func (r *Resolver) loadEvents(ctx context.Context, want eventFields, entries []subscriptions.Entry) ([]*model.Event, error) {
	var actorIDs, issueIDs, commentIDs, projectIDs []int64
	for _, e := range entries {
		if e.ActorID != 0 && want.actor {
			actorIDs = append(actorIDs, e.ActorID)
		}
		if e.IssueID != 0 && (want.issue || want.subject && subjectType(e.Type) == typeIssue) {
			issueIDs = append(issueIDs, e.IssueID)
		}
		if !want.subject {
			continue
		}
		switch subjectType(e.Type) {
		case typeComment:
			commentIDs = append(commentIDs, e.SubjectID)
		case typeProject:
			projectIDs = append(projectIDs, e.SubjectID)
		}
	}
	actors, err := byID(ctx, len(actorIDs), func() ([]*ent.User, error) { return r.client.User.Query().Where(user.IDIn(actorIDs...)).All(ctx) }, func(u *ent.User) int64 { return u.ID })
	if err != nil {
		return nil, err
	}
	issues, err := byID(ctx, len(issueIDs), func() ([]*ent.Issue, error) { return r.client.Issue.Query().Where(issue.IDIn(issueIDs...)).All(ctx) }, func(i *ent.Issue) int64 { return i.ID })
	if err != nil {
		return nil, err
	}
	comments, err := byID(ctx, len(commentIDs), func() ([]*ent.Comment, error) {
		return r.client.Comment.Query().Where(comment.IDIn(commentIDs...)).All(ctx)
	}, func(c *ent.Comment) int64 { return c.ID })
	if err != nil {
		return nil, err
	}
	projects, err := byID(ctx, len(projectIDs), func() ([]*ent.Project, error) {
		return r.client.Project.Query().Where(project.IDIn(projectIDs...)).All(ctx)
	}, func(p *ent.Project) int64 { return p.ID })
	if err != nil {
		return nil, err
	}
	out := make([]*model.Event, len(entries))
	for i, e := range entries {
		var subject model.Node
		switch subjectType(e.Type) {
		case typeIssue:
			if i := issues[e.SubjectID]; i != nil {
				subject = i
			}
		case typeComment:
			if c := comments[e.SubjectID]; c != nil {
				subject = c
			}
		case typeProject:
			if p := projects[e.SubjectID]; p != nil {
				subject = p
			}
		}
		out[i] = model.NewEvent(subscriptions.Cursor(e.Position), e.Type, actors[e.ActorID], e.CreatedAt, subject, issues[e.IssueID])
	}
	return out, nil
}

// eventFields says which of an Event's objects a subscription selected;
// only those are loaded for each delivery.
type eventFields struct{ actor, subject, issue bool }

// selectedEventFields reads the subscription field's selection (fragments
// included) once, when the subscription starts.
func selectedEventFields(ctx context.Context) eventFields {
	var f eventFields
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return eventFields{actor: true, subject: true, issue: true}
	}
	for _, c := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, []string{"Event"}) {
		switch c.Name {
		case "actor":
			f.actor = true
		case "subject":
			f.subject = true
		case "issue":
			f.issue = true
		}
	}
	return f
}

// byID runs load (when there is anything to load) and indexes the result.
func byID[T any](_ context.Context, n int, load func() ([]*T, error), id func(*T) int64) (map[int64]*T, error) {
	m := make(map[int64]*T, n)
	if n == 0 {
		return m, nil
	}
	rows, err := load()
	if err != nil {
		return nil, err
	}
	for _, v := range rows {
		m[id(v)] = v
	}
	return m, nil
}

// subjectType is the global ID type of an event type's subject.
func subjectType(eventType string) string {
	switch eventType {
	case EventIssueCreated, EventIssueUpdated, EventIssueAssigned, EventIssueLabeled, EventIssueUnlabeled,
		EventIssueClosed, EventIssueReopened, EventIssueDeleted:
		return typeIssue
	case EventCommentAdded, EventCommentUpdated, EventCommentDeleted:
		return typeComment
	case EventProjectCreated, EventProjectUpdated, EventProjectArchived, EventProjectUnarchived:
		return typeProject
	}
	return ""
}

// subscriptionError maps why a subscription could not start or ended to
// what the client sees; unexpected errors are returned unchanged (and
// masked by the error presenter).
func subscriptionError(err error, last int64) error {
	resume := ""
	if last > 0 {
		resume = " (your last cursor is " + subscriptions.Cursor(last) + ")"
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, subscriptions.ErrBadCursor):
		return Errorf(CodeBadUserInput, "after is not a cursor of this stream")
	case errors.Is(err, subscriptions.ErrCursorAhead):
		return Errorf(CodeBadUserInput, "after is newer than the server's event log, which was restored from a backup taken before that event: refetch what you show, then subscribe without after")
	case errors.Is(err, subscriptions.ErrCursorExpired):
		return Errorf(CodeBadUserInput, "after is older than the event log's retention or not from this stream; reload, then subscribe without after")
	case errors.Is(err, subscriptions.ErrUnavailable), errors.Is(err, subscriptions.ErrClosed):
		return Errorf(CodeUnavailable, "%s%s", err.Error(), resume)
	case errors.Is(err, errSlowClient):
		return Errorf(CodeUnavailable, "you did not read events fast enough and were disconnected from this stream; subscribe again with after%s", resume)
	}
	return err
}

// endError turns the error that ended a subscription into what the client
// sees, with its last cursor to resume from; unexpected errors are logged
// here and masked by the error presenter.
func (r *Resolver) endError(ctx context.Context, err error, last int64) error {
	mapped := subscriptionError(err, last)
	e, ok := AsError(mapped)
	if !ok {
		r.log.ErrorContext(ctx, "subscription failed", "error", err)
		return mapped
	}
	if last > 0 {
		e = &Error{Code: e.Code, Message: e.Message, Extensions: map[string]any{"cursor": subscriptions.Cursor(last)}}
	}
	return e
}
