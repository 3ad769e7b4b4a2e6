package graph

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect/sql"

	"github.com/issuegraph/issuegraph/ent"
	"github.com/issuegraph/issuegraph/ent/issue"
	"github.com/issuegraph/issuegraph/ent/label"
	"github.com/issuegraph/issuegraph/ent/predicate"
	"github.com/issuegraph/issuegraph/graph/model"
)

// listQuery is the part of an ent query builder that pagination uses; every
// generated *XQuery satisfies it with its own predicate and order types.
type listQuery[Q any, T any, P ~func(*sql.Selector), O ~func(*sql.Selector)] interface {
	Where(...P) Q
	Order(...O) Q
	Limit(int) Q
	Clone() Q
	All(context.Context) ([]T, error)
	Count(context.Context) (int, error)
}

// paginate reads one page of q. totalCount, when asked for, counts q as it
// was before the page's cursor bounds were added.
func paginate[Q listQuery[Q, T, P, O], T any, P ~func(*sql.Selector), O ~func(*sql.Selector)](
	ctx context.Context, q Q, p page, keyOf func(T) (any, int64),
) (*model.Connection[T], error) {
	counter := q.Clone()
	rows, err := q.Where(P(p.where)).Order(O(p.order)).Limit(p.fetchLimit()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing: %w", err)
	}
	return connection(p, rows, keyOf, func(ctx context.Context) (int, error) { return counter.Count(ctx) }), nil
}

// Sort keys of the lists.
var (
	projectsByKey       = sortKey{name: "key", column: "key", kind: kindString}
	labelsByName        = sortKey{name: "name", column: "name", kind: kindString}
	commentsByCreated   = sortKey{name: "created", column: "created_at", kind: kindTime}
	membershipsByJoined = sortKey{name: "joined", column: "created_at", kind: kindTime}
)

// issueSortKey maps an IssueOrder to its sort key; the default is most
// recently updated first.
func issueSortKey(o *model.IssueOrder) sortKey {
	if o == nil {
		return sortKey{name: "updated-desc", column: issue.FieldUpdatedAt, kind: kindTime, desc: true}
	}
	k := sortKey{desc: o.Direction == model.OrderDirectionDesc}
	switch o.Field {
	case model.IssueOrderFieldCreatedAt:
		k.column, k.kind = issue.FieldCreatedAt, kindTime
	case model.IssueOrderFieldNumber:
		k.column, k.kind = issue.FieldNumber, kindInt
	default:
		k.column, k.kind = issue.FieldUpdatedAt, kindTime
	}
	k.name = k.column
	if k.desc {
		k.name += "-desc"
	}
	return k
}

func issueKeyOf(k sortKey) func(*ent.Issue) (any, int64) {
	return func(i *ent.Issue) (any, int64) {
		switch k.column {
		case issue.FieldCreatedAt:
			return i.CreatedAt, i.ID
		case issue.FieldNumber:
			return i.Number, i.ID
		default:
			return i.UpdatedAt, i.ID
		}
	}
}

// issueFilter turns an IssueFilter into predicates.
func issueFilter(f *model.IssueFilter) ([]predicate.Issue, error) {
	if f == nil {
		return nil, nil
	}
	var ps []predicate.Issue
	if len(f.Status) > 0 {
		ps = append(ps, issue.StatusIn(f.Status...))
	}
	if f.AssigneeID != nil {
		id, ok := idOf(*f.AssigneeID, typeUser)
		if !ok {
			return nil, Errorf(CodeBadUserInput, "filter.assigneeId is not a valid User ID")
		}
		ps = append(ps, issue.AssigneeID(id))
	}
	if f.Unassigned != nil {
		if *f.Unassigned {
			ps = append(ps, issue.AssigneeIDIsNil())
		} else {
			ps = append(ps, issue.AssigneeIDNotNil())
		}
	}
	if len(f.LabelIds) > 10 {
		return nil, Errorf(CodeBadUserInput, "filter.labelIds takes at most 10 IDs")
	}
	for _, gid := range f.LabelIds {
		id, ok := idOf(gid, typeLabel)
		if !ok {
			return nil, Errorf(CodeBadUserInput, "filter.labelIds: %q is not a valid Label ID", truncate(gid, 40))
		}
		ps = append(ps, issue.HasLabelsWith(label.ID(id)))
	}
	if f.TitleContains != nil {
		if len([]rune(*f.TitleContains)) > 100 {
			return nil, Errorf(CodeBadUserInput, "filter.titleContains must be at most 100 characters")
		}
		ps = append(ps, issue.TitleContainsFold(*f.TitleContains))
	}
	return ps, nil
}

// issueList pages through q (a project's issues, a user's assigned issues).
func issueList(ctx context.Context, q *ent.IssueQuery, args pageArgs, filter *model.IssueFilter, order *model.IssueOrder) (*model.IssueConnection, error) {
	key := issueSortKey(order)
	p, err := newPage(args, key)
	if err != nil {
		return nil, err
	}
	ps, err := issueFilter(filter)
	if err != nil {
		return nil, err
	}
	return paginate[*ent.IssueQuery, *ent.Issue, predicate.Issue, issue.OrderOption](ctx, q.Where(ps...), p, issueKeyOf(key))
}

// listOf pages through q, sorted by key, with keyOf reading the key's value.
func listOf[Q listQuery[Q, T, P, O], T any, P ~func(*sql.Selector), O ~func(*sql.Selector)](
	ctx context.Context, q Q, args pageArgs, key sortKey, keyOf func(T) (any, int64),
) (*model.Connection[T], error) {
	p, err := newPage(args, key)
	if err != nil {
		return nil, err
	}
	return paginate[Q, T, P, O](ctx, q, p, keyOf)
}
