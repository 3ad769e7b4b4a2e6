package delivery

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/99designs/gqlgen/graphql"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/loaders"
	"github.com/issuegraph/issuegraph/subscriptions"
)

// Options configures a Deliverer.
type Options struct {
	Client *ent.Client
	Feed   *subscriptions.Feed
	// SendTimeout ends a client that does not take an event within it as
	// a slow consumer (it can resume with its cursor); 0: 10s.
	SendTimeout time.Duration
	// Loaders are the options of the fresh loaders each burst of
	// delivered events gets (see burstLoaders).
	Loaders loaders.Options
	// Tracer traces each delivered event (spans.go); nil: not traced.
	Tracer trace.Tracer
	// End turns the error that ended a subscription into the error its
	// last event reports; last is the position of the last event
	// delivered (0: none). Required.
	End func(ctx context.Context, err error, last int64) error
}

// Deliverer delivers the events of streams to subscribers: it re-checks
// each subscriber's membership before every burst, loads the burst's
// objects once per viewer and hands each event with its span to the
// transport.
type Deliverer struct {
	client      *ent.Client
	feed        *subscriptions.Feed
	members     *memberChecks
	loads       *eventLoads
	sendTimeout time.Duration
	loaders     loaders.Options
	tracer      trace.Tracer
	spanStart   []trace.SpanStartOption // of every event's span, made once
	end         func(ctx context.Context, err error, last int64) error
}

// New returns a Deliverer over opts.Feed.
func New(opts Options) *Deliverer {
	d := &Deliverer{
		client: opts.Client, feed: opts.Feed, sendTimeout: opts.SendTimeout, loaders: opts.Loaders,
		tracer: opts.Tracer, end: opts.End, spanStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)},
		members: newMemberChecks(opts.Client), loads: newEventLoads(),
	}
	if d.sendTimeout <= 0 {
		d.sendTimeout = 10 * time.Second
	}
	if _, off := d.tracer.(noop.Tracer); off {
		d.tracer = nil
	}
	return d
}

// Why a subscription cannot start or ends early, besides the feed's errors.
var (
	// ErrNotMember: the viewer is not (or no longer) a member of the
	// stream's organization.
	ErrNotMember = errors.New("you are not a member of this organization")
	// ErrSlowClient: the client did not take an event within SendTimeout.
	ErrSlowClient = errors.New("client did not take events fast enough")
)

// CheckCursor returns the log position of cursor after in stream (see
// subscriptions.Feed.CheckCursor).
func (d *Deliverer) CheckCursor(ctx context.Context, stream subscriptions.Stream, after string) (int64, error) {
	return d.feed.CheckCursor(ctx, stream, after)
}

// CheckMember returns ErrNotMember unless user belongs to org.
func (d *Deliverer) CheckMember(ctx context.Context, userID, orgID int64) error {
	ok, err := d.members.isMember(ctx, userID, orgID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotMember
	}
	return nil
}

// Start follows stream for user, a member of organization orgID, after log
// position start (start < 0: from now on), and returns the channel its
// events come on. The channel's last event reports why the subscription
// ended, unless ctx ended it; then the channel closes.
func (d *Deliverer) Start(ctx context.Context, stream subscriptions.Stream, userID, orgID, start int64) <-chan *model.Event {
	want := selectedEventFields(ctx)
	names := spanNamesOf(ctx)
	h := handoffFrom(ctx)
	if h != nil {
		// Set before the channel is returned, so before any event is
		// resolved.
		h.key, h.keyset = responseKeyOf(ctx, userID)
	}
	ch := make(chan *model.Event)
	if h.paced() {
		// The transport takes each event on deliver's goroutine right
		// after it is sent (h.ready): the send must not wait for it.
		ch = make(chan *model.Event, 1)
	}
	h.arm()
	// No goroutine waits for the stream's events: the feed runs deliver
	// (and then end) on a short-lived one when there is something to send,
	// so an idle subscription holds none of its own.
	var last int64
	d.feed.Start(ctx, stream, start, func(entries []subscriptions.Entry) error {
		return d.deliver(ctx, h, names, stream, userID, orgID, want, entries, ch, &last)
	}, func(err error) {
		defer h.ready() // runs last: the transport reads the closed channel
		defer close(ch)
		defer h.close() // runs first: nothing waits for a span once ch closes
		if err == nil || ctx.Err() != nil {
			return
		}
		// The error travels as a last event, not beside the channel, so
		// no transport reads it while it is being written. It is no
		// delivered event and has no span of its own.
		h.close()
		end := model.EndEvent(d.end(ctx, err, last))
		timer := time.NewTimer(d.sendTimeout)
		defer timer.Stop()
		select {
		case ch <- end:
			h.ready()
		case <-ctx.Done():
		case <-timer.C:
		}
	})
	return ch
}

// deliver checks the viewer may still see the organization, loads the
// events' objects in a few queries and hands the events to the transport,
// each with its span (spans.go) through h. The membership check and the
// load run at the same time (one database round trip less before
// delivery); nothing is sent before the check answers, and the load reads
// with the viewer's privacy anyway.
func (d *Deliverer) deliver(ctx context.Context, h *Handoff, names spanNames, stream subscriptions.Stream, userID, orgID int64, want eventFields, entries []subscriptions.Entry, ch chan<- *model.Event, last *int64) (err error) {
	spans := d.spans(ctx, names, stream, entries)
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
	member := d.members.ask(userID, orgID, checkSince(entries))
	key := eventLoadKey{user: userID, want: want, stream: stream, first: entries[0].Position, last: entries[len(entries)-1].Position}
	events, err := d.loads.events.load(key, func() ([]*model.Event, error) {
		// Shared with the viewer's other subscriptions: one of them ending
		// must not fail the load for the rest.
		loadCtx, cancel := context.WithTimeout(context.WithoutCancel(evCtx), 10*time.Second)
		defer cancel()
		return d.loadEvents(loadCtx, stream, orgID, want, entries)
	})
	ok, memberErr := member.wait(ctx)
	switch {
	case memberErr != nil:
		return memberErr
	case !ok:
		return ErrNotMember
	case err != nil:
		return err
	}
	h.setLoaders(func() *loaders.Loaders { return d.burstLoaders(events) })
	deadline := sendDeadline{timeout: d.sendTimeout}
	defer deadline.stop()
	for i, ev := range events {
		if h.tracing() {
			if err := h.give(ctx, spans[i], &deadline); err != nil {
				return err
			}
			taken = i + 1 // the transport ends it once it has resolved ev
		}
		if err := send(ctx, ch, ev, &deadline); err != nil {
			return err
		}
		*last = entries[i].Position
		h.ready()
		if !h.tracing() {
			// Nothing resolves ev under its span: it covers the delivery
			// up to the transport taking ev.
			spans[i].End()
			taken = i + 1
		}
	}
	return nil
}

// checkSince is when the membership check before delivering entries
// must have started by: once the last of them reached this instance, or
// now for events read from the log.
func checkSince(entries []subscriptions.Entry) time.Time {
	var since time.Time
	for _, e := range entries {
		if e.Received.IsZero() {
			return time.Now()
		}
		if e.Received.After(since) {
			since = e.Received
		}
	}
	return since
}

// sendDeadline bounds how long a burst's sends may wait for the
// transport: SendTimeout from the first send that has to wait. Its timer
// is made only then: a paced subscription's transport takes each event on
// the sending goroutine, so its sends never wait, and a timer per
// subscriber per event was pure overhead.
type sendDeadline struct {
	timeout time.Duration
	timer   *time.Timer
}

// expired fires once the deadline has passed; the first call starts it.
func (d *sendDeadline) expired() <-chan time.Time {
	if d.timer == nil {
		d.timer = time.NewTimer(d.timeout)
	}
	return d.timer.C
}

func (d *sendDeadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}

// send puts ev on ch, waiting at most until the deadline.
func send(ctx context.Context, ch chan<- *model.Event, ev *model.Event, deadline *sendDeadline) error {
	select {
	case ch <- ev:
		return nil
	default:
	}
	select {
	case ch <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-deadline.expired():
		return ErrSlowClient
	}
}

// burstLoaders returns fresh loaders for the events of one burst, holding
// the objects already loaded for them and knowing them as peers, so the
// nested fields of every event in the burst (issue.assignee, issue.labels,
// comment.author, ...) load in one batch per edge, not one per event. They
// are made after the burst's events committed and serve only this burst:
// nothing read for one burst is shown for a later event.
func (d *Deliverer) burstLoaders(events []*model.Event) *loaders.Loaders {
	l := loaders.New(d.client, d.loaders)
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

// loadEvents builds the events of entries for the viewer of ctx, a member
// of organization orgID, loading each kind of object once per batch rather
// than once per event.
//
// The events' issues, comments and projects belong to the organization, and
// what its members may see of them does not depend on who they are (ent
// privacy filters them by the organization alone), so they are loaded once
// per organization on this instance (loadObjects), not once per viewer:
// one query per delivered event instead of one per viewer subscribed. The
// viewer's membership is checked before anything is sent (deliver). Actors
// are users, whom each viewer may see or not for reasons beyond this
// organization, so they are still loaded with the viewer's privacy.
func (d *Deliverer) loadEvents(ctx context.Context, stream subscriptions.Stream, orgID int64, want eventFields, entries []subscriptions.Entry) ([]*model.Event, error) {
	var actorIDs []int64
	for _, e := range entries {
		if e.ActorID != 0 && want.actor {
			actorIDs = append(actorIDs, e.ActorID)
		}
	}
	actors, err := byID(ctx, len(actorIDs), func() ([]*ent.User, error) { return d.client.User.Query().Where(user.IDIn(actorIDs...)).All(ctx) }, func(u *ent.User) int64 { return u.ID })
	if err != nil {
		return nil, err
	}
	shared := want
	shared.actor = false
	key := objectLoadKey{org: orgID, want: shared, stream: stream, first: entries[0].Position, last: entries[len(entries)-1].Position}
	objs, err := d.loads.objects.load(key, func() (*eventObjects, error) {
		return d.loadObjects(orgMemberContext(ctx, orgID), shared, entries)
	})
	if err != nil {
		return nil, err
	}
	issues, comments, projects := objs.issues, objs.comments, objs.projects
	out := make([]*model.Event, len(entries))
	for i, e := range entries {
		var subject model.Node
		switch subjectType(e.Type) {
		case subjectIssue:
			if i := issues[e.SubjectID]; i != nil {
				subject = i
			}
		case subjectComment:
			if c := comments[e.SubjectID]; c != nil {
				subject = c
			}
		case subjectProject:
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

// The kinds of object an event is about.
const (
	subjectIssue   = "issue"
	subjectComment = "comment"
	subjectProject = "project"
)

// subjectType is the kind of an event type's subject: its prefix
// ("issue.closed" is about an issue; graph/events.go names the types).
// Other kinds (member, label, ...) are not loaded for delivery.
func subjectType(eventType string) string {
	kind, _, _ := strings.Cut(eventType, ".")
	switch kind {
	case subjectIssue, subjectComment, subjectProject:
		return kind
	}
	return ""
}

// orgMemberContext returns ctx reading as any member of organization
// orgID, and nothing more: a read-only service account of that
// organization (the privacy rules scope one to its organization).
func orgMemberContext(ctx context.Context, orgID int64) context.Context {
	return viewer.NewContext(ctx, viewer.Viewer{APIKey: &viewer.APIKey{OrganizationID: orgID, Role: string(membership.RoleVIEWER)}})
}

// loadObjects loads the issues, comments and projects entries refer to
// that want selects, one query per kind.
func (d *Deliverer) loadObjects(ctx context.Context, want eventFields, entries []subscriptions.Entry) (*eventObjects, error) {
	var issueIDs, commentIDs, projectIDs []int64
	for _, e := range entries {
		if e.IssueID != 0 && (want.issue || want.subject && subjectType(e.Type) == subjectIssue) {
			issueIDs = append(issueIDs, e.IssueID)
		}
		if !want.subject {
			continue
		}
		switch subjectType(e.Type) {
		case subjectComment:
			commentIDs = append(commentIDs, e.SubjectID)
		case subjectProject:
			projectIDs = append(projectIDs, e.SubjectID)
		}
	}
	var objs eventObjects
	var err error
	if objs.issues, err = byID(ctx, len(issueIDs), func() ([]*ent.Issue, error) { return d.client.Issue.Query().Where(issue.IDIn(issueIDs...)).All(ctx) }, func(i *ent.Issue) int64 { return i.ID }); err != nil {
		return nil, err
	}
	if objs.comments, err = byID(ctx, len(commentIDs), func() ([]*ent.Comment, error) {
		return d.client.Comment.Query().Where(comment.IDIn(commentIDs...)).All(ctx)
	}, func(c *ent.Comment) int64 { return c.ID }); err != nil {
		return nil, err
	}
	if objs.projects, err = byID(ctx, len(projectIDs), func() ([]*ent.Project, error) {
		return d.client.Project.Query().Where(project.IDIn(projectIDs...)).All(ctx)
	}, func(p *ent.Project) int64 { return p.ID }); err != nil {
		return nil, err
	}
	return &objs, nil
}
