package graph

import (
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/label"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/predicate"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/rule"
	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/loaders"
)

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

// issueList is a list of issues: a project's, or a user's assigned ones,
// narrowed by filter and sorted by order.
func (r *Resolver) issueList(name, parentColumn string, filter *model.IssueFilter, order *model.IssueOrder) (childList[*ent.IssueQuery, *ent.Issue, predicate.Issue, *ent.IssueSelect], error) {
	key := issueSortKey(order)
	ps, err := issueFilter(filter)
	if err != nil {
		return childList[*ent.IssueQuery, *ent.Issue, predicate.Issue, *ent.IssueSelect]{}, err
	}
	l := childList[*ent.IssueQuery, *ent.Issue, predicate.Issue, *ent.IssueSelect]{
		name: name, query: r.client.Issue.Query, parent: loaders.ByColumn(parentColumn), parentOf: issueParent(parentColumn),
		key: key, keyOf: issueKeyOf(key), where: ps, shape: filter,
		users: issueUsers, counts: issueCounts, nests: r.issueNests(),
		columns: issue.Columns, fieldColumns: issueFieldColumns,
		keptColumns: []string{issue.FieldID, key.column, issue.FieldProjectID, issue.FieldOrganizationID, issue.FieldAuthorID, issue.FieldAssigneeID},
	}
	if parentColumn == issue.FieldProjectID && len(ps) == 0 {
		// All of a project's issues: the project counts them.
		l.stored = &projectIssueTotal
	}
	return l, nil
}

// projectIssueTotal is where a project keeps how many issues it has.
var projectIssueTotal = loaders.Stored{Table: project.Table, Column: project.FieldIssueTotal}

// issueNests are the lists under an issue that a page or lookup of issues
// reads with them when a query selects them.
func (r *Resolver) issueNests() []nestedList {
	return []nestedList{nested("labels", r.labelsOfIssues), nested("comments", r.commentsOfIssues)}
}

// issueCounts are the lists under an issue whose sizes a page of issues
// reads with them when a query selects them.
var issueCounts = []childCount{
	{field: "comments", list: "Issue.comments", table: comment.Table, column: comment.FieldIssueID, visible: rule.VisibleComments},
}

// issueUsers are an issue's to-one user edges, read with the issues that
// point at them when a query selects them.
var issueUsers = []userEdge[*ent.Issue]{
	{edge: "Issue.assignee", field: "assignee", column: issue.FieldAssigneeID, target: func(i *ent.Issue) int64 {
		if i.AssigneeID == nil {
			return 0
		}
		return *i.AssigneeID
	}},
	{edge: "Issue.author", field: "author", column: issue.FieldAuthorID, target: func(i *ent.Issue) int64 { return i.AuthorID }},
}

// The other lists, by parent.
func (r *Resolver) commentsOfIssues() childList[*ent.CommentQuery, *ent.Comment, predicate.Comment, *ent.CommentSelect] {
	return childList[*ent.CommentQuery, *ent.Comment, predicate.Comment, *ent.CommentSelect]{
		name: "Issue.comments", query: r.client.Comment.Query, parent: loaders.ByColumn(comment.FieldIssueID),
		parentOf: func(c *ent.Comment) int64 { return c.IssueID },
		key:      commentsByCreated, keyOf: func(c *ent.Comment) (any, int64) { return c.CreatedAt, c.ID },
		table: comment.Table, columns: comment.Columns, visible: rule.VisibleComments,
		fieldColumns: commentFieldColumns, keptColumns: []string{comment.FieldID, comment.FieldCreatedAt, comment.FieldIssueID, comment.FieldAuthorID},
		users: []userEdge[*ent.Comment]{
			{edge: "Comment.author", field: "author", column: comment.FieldAuthorID, target: func(c *ent.Comment) int64 { return c.AuthorID }},
		},
	}
}

func (r *Resolver) labelsOfIssues() childList[*ent.LabelQuery, *ent.Label, predicate.Label, *ent.LabelSelect] {
	return childList[*ent.LabelQuery, *ent.Label, predicate.Label, *ent.LabelSelect]{
		name: "Issue.labels", query: r.client.Label.Query,
		parent: loaders.ThroughTable(issue.LabelsTable, issue.LabelsPrimaryKey[0], issue.LabelsPrimaryKey[1]),
		key:    labelsByName, keyOf: labelKey,
		table: label.Table, columns: label.Columns, visible: rule.VisibleLabels,
		fieldColumns: labelFieldColumns, keptColumns: []string{label.FieldID, label.FieldName, label.FieldOrganizationID},
	}
}

// issueFieldColumns, commentFieldColumns and labelFieldColumns are the
// columns each field of Issue, Comment and Label reads from its row (a
// resolver: what it reads of the row), for a page that reads only what
// its selection needs.
var (
	issueFieldColumns = map[string][]string{
		"__typename": nil, "id": nil, "key": {issue.FieldProjectID, issue.FieldNumber}, "number": {issue.FieldNumber},
		"title": {issue.FieldTitle}, "body": {issue.FieldBody}, "status": {issue.FieldStatus}, "priority": {issue.FieldPriority},
		"project": {issue.FieldProjectID}, "author": {issue.FieldAuthorID}, "assignee": {issue.FieldAssigneeID},
		"labels": nil, "comments": nil, "createdAt": {issue.FieldCreatedAt}, "updatedAt": {issue.FieldUpdatedAt},
		"closedAt": {issue.FieldClosedAt}, "version": {issue.FieldVersion},
	}
	commentFieldColumns = map[string][]string{
		"__typename": nil, "id": nil, "author": {comment.FieldAuthorID}, "issue": {comment.FieldIssueID},
		"body": {comment.FieldBody}, "createdAt": {comment.FieldCreatedAt}, "updatedAt": {comment.FieldUpdatedAt},
		"version": {comment.FieldVersion},
	}
	labelFieldColumns = map[string][]string{
		"__typename": nil, "id": nil, "name": {label.FieldName}, "color": {label.FieldColor},
		"description": {label.FieldDescription}, "organization": {label.FieldOrganizationID}, "version": {label.FieldVersion},
	}
)

func (r *Resolver) labelsOfOrganizations() childList[*ent.LabelQuery, *ent.Label, predicate.Label, *ent.LabelSelect] {
	return childList[*ent.LabelQuery, *ent.Label, predicate.Label, *ent.LabelSelect]{
		name: "Organization.labels", query: r.client.Label.Query, parent: loaders.ByColumn(label.FieldOrganizationID),
		parentOf: func(l *ent.Label) int64 { return l.OrganizationID },
		key:      labelsByName, keyOf: labelKey,
	}
}

func labelKey(l *ent.Label) (any, int64) { return l.Name, l.ID }

func (r *Resolver) projectsOfOrganizations(includeArchived bool) childList[*ent.ProjectQuery, *ent.Project, predicate.Project, *ent.ProjectSelect] {
	l := childList[*ent.ProjectQuery, *ent.Project, predicate.Project, *ent.ProjectSelect]{
		name: "Organization.projects", query: r.client.Project.Query, parent: loaders.ByColumn(project.FieldOrganizationID),
		parentOf: func(p *ent.Project) int64 { return p.OrganizationID },
		key:      projectsByKey, keyOf: func(p *ent.Project) (any, int64) { return p.Key, p.ID }, shape: includeArchived,
	}
	if !includeArchived {
		l.where = []predicate.Project{project.Archived(false)}
	}
	return l
}

// memberships lists memberships by parentColumn: an organization's members
// or a user's memberships.
func (r *Resolver) memberships(name, parentColumn string) childList[*ent.MembershipQuery, *ent.Membership, predicate.Membership, *ent.MembershipSelect] {
	return childList[*ent.MembershipQuery, *ent.Membership, predicate.Membership, *ent.MembershipSelect]{
		name: name, query: r.client.Membership.Query, parent: loaders.ByColumn(parentColumn), parentOf: membershipParent(parentColumn),
		key: membershipsByJoined, keyOf: func(m *ent.Membership) (any, int64) { return m.CreatedAt, m.ID },
	}
}

// issueParent reads the parent id of an issue listed by column: its
// project, or the user it is assigned to.
func issueParent(column string) func(*ent.Issue) int64 {
	switch column {
	case issue.FieldProjectID:
		return func(i *ent.Issue) int64 { return i.ProjectID }
	case issue.FieldAssigneeID:
		return func(i *ent.Issue) int64 {
			if i.AssigneeID == nil { // not listed under a user, then
				return 0
			}
			return *i.AssigneeID
		}
	}
	panic("issue list by unknown column " + column)
}

// membershipParent reads the parent id of a membership listed by column:
// its organization, or its user.
func membershipParent(column string) func(*ent.Membership) int64 {
	switch column {
	case membership.FieldOrganizationID:
		return func(m *ent.Membership) int64 { return m.OrganizationID }
	case membership.FieldUserID:
		return func(m *ent.Membership) int64 { return m.UserID }
	}
	panic("membership list by unknown column " + column)
}
