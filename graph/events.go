package graph

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/subscriptions"
)

// Event types written to the activity log.
const (
	EventUserSignedUp        = "user.signed_up"
	EventOrganizationCreated = "organization.created"
	EventOrganizationUpdated = "organization.updated"
	EventMemberAdded         = "member.added"
	EventMemberRoleChanged   = "member.role_changed"
	EventMemberRemoved       = "member.removed"
	EventMemberLeft          = "member.left"
	EventProjectCreated      = "project.created"
	EventProjectUpdated      = "project.updated"
	EventProjectArchived     = "project.archived"
	EventProjectUnarchived   = "project.unarchived"
	EventIssueCreated        = "issue.created"
	EventIssueUpdated        = "issue.updated"
	EventIssueAssigned       = "issue.assigned"
	EventIssueLabeled        = "issue.labeled"
	EventIssueUnlabeled      = "issue.unlabeled"
	EventIssueClosed         = "issue.closed"
	EventIssueReopened       = "issue.reopened"
	EventIssueDeleted        = "issue.deleted"
	EventCommentAdded        = "comment.added"
	EventCommentUpdated      = "comment.updated"
	EventCommentDeleted      = "comment.deleted"
	EventLabelCreated        = "label.created"
	EventLabelUpdated        = "label.updated"
	EventLabelDeleted        = "label.deleted"
)

// event describes one entry of the activity log.
type event struct {
	typ            string
	organizationID int64 // 0: none (account events)
	projectID      int64 // 0: none
	issueID        int64 // 0: none
	subjectID      int64
	payload        map[string]any
}

// record writes e in tx, so the log commits or rolls back with the change.
func record(ctx context.Context, tx *ent.Tx, e event) error {
	c := tx.Event.Create().SetType(e.typ).SetSubjectID(e.subjectID)
	if e.organizationID != 0 {
		c.SetOrganizationID(e.organizationID)
	}
	if e.projectID != 0 {
		c.SetProjectID(e.projectID)
	}
	if e.issueID != 0 {
		c.SetIssueID(e.issueID)
	}
	if v := viewer.FromContext(ctx); v.Authenticated() {
		c.SetActorID(v.UserID)
	}
	if e.payload != nil {
		c.SetPayload(e.payload)
	}
	if tp, ts := traceContext(ctx); tp != "" {
		c.SetTraceparent(tp)
		if ts != "" {
			c.SetTracestate(ts)
		}
	}
	if err := c.Exec(ctx); err != nil {
		return fmt.Errorf("recording %s event: %w", e.typ, err)
	}
	// NOTIFY is delivered when the transaction commits (and never if it
	// rolls back), which is exactly when the relay can see the event.
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, subscriptions.NotifyChannel); err != nil {
		return fmt.Errorf("notifying the event relay: %w", err)
	}
	return nil
}

// issueEvent is the event of a change to issue i.
func issueEvent(typ string, orgID int64, i *ent.Issue, payload map[string]any) event {
	return event{typ: typ, organizationID: orgID, projectID: i.ProjectID, issueID: i.ID, subjectID: i.ID, payload: payload}
}

// maxTracestate bounds the tracestate kept with an event. W3C Trace Context
// asks vendors to propagate at least 512 characters and allows dropping the
// rest; a caller's oversized header must not cost a row more than that.
const maxTracestate = 512

// traceContext returns the W3C traceparent and tracestate of the span
// active in ctx (the mutation's), or empty strings when there is none. Only
// trace context is kept, never baggage, which may carry what a caller
// would not want stored. With tracing off the span is the caller's
// incoming one, if any, which is still worth linking to.
func traceContext(ctx context.Context) (traceparent, tracestate string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "", "" // the common case with tracing off: nothing to format
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	traceparent, tracestate = carrier.Get("traceparent"), carrier.Get("tracestate")
	if len(tracestate) > maxTracestate {
		tracestate = ""
	}
	return traceparent, tracestate
}
