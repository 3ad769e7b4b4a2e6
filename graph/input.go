package graph

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/organization"
	"github.com/issuegraph/issuegraph/graph/model"
)

// inputCheck collects the user errors of one mutation's input, so a client
// learns about every bad field at once.
type inputCheck struct {
	errs []*model.UserError
}

func (c *inputCheck) add(code model.UserErrorCode, msg string, path ...string) {
	c.errs = append(c.errs, &model.UserError{Field: path, Message: msg, Code: code})
}

func (c *inputCheck) failed() bool { return len(c.errs) > 0 }

// text trims s and checks its length in characters.
func (c *inputCheck) text(s string, min, max int, path ...string) string {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0 && min > 0:
		c.add(model.UserErrorCodeBlank, fmt.Sprintf("%s can't be blank", path[len(path)-1]), path...)
	case n < min:
		c.add(model.UserErrorCodeTooShort, fmt.Sprintf("%s must be at least %d characters", path[len(path)-1], min), path...)
	case n > max:
		c.add(model.UserErrorCodeTooLong, fmt.Sprintf("%s must be at most %d characters", path[len(path)-1], max), path...)
	}
	return s
}

// optText is text for an optional field; nil stays nil.
func (c *inputCheck) optText(s *string, min, max int, path ...string) *string {
	if s == nil {
		return nil
	}
	v := c.text(*s, min, max, path...)
	return &v
}

// pattern checks s against re, explaining the expected form in msg.
func (c *inputCheck) pattern(s string, re *regexp.Regexp, msg string, path ...string) string {
	if !re.MatchString(s) {
		c.add(model.UserErrorCodeInvalid, msg, path...)
	}
	return s
}

// id parses a global ID of type typ.
func (c *inputCheck) id(gid string, typ string, path ...string) int64 {
	id, ok := idOf(gid, typ)
	if !ok {
		c.add(model.UserErrorCodeInvalid, fmt.Sprintf("%s is not a valid %s ID", path[len(path)-1], typ), path...)
	}
	return id
}

// ids parses a list of global IDs of type typ, at most max of them,
// dropping duplicates.
func (c *inputCheck) ids(gids []string, typ string, max int, path ...string) []int64 {
	if len(gids) > max {
		c.add(model.UserErrorCodeInvalid, fmt.Sprintf("%s takes at most %d IDs", path[len(path)-1], max), path...)
		return nil
	}
	seen := map[int64]bool{}
	out := make([]int64, 0, len(gids))
	for i, g := range gids {
		id, ok := idOf(g, typ)
		if !ok {
			c.add(model.UserErrorCodeInvalid, fmt.Sprintf("%s[%d] is not a valid %s ID", path[len(path)-1], i, typ), append(path, fmt.Sprint(i))...)
			continue
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// notFound records that a referenced object does not exist or is not
// visible (the two are indistinguishable on purpose).
func (c *inputCheck) notFound(what string, path ...string) {
	c.add(model.UserErrorCodeNotFound, what+" not found", path...)
}

var (
	slugPattern       = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)
	projectKeyPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,9}$`)
	colorPattern      = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	emailPattern      = regexp.MustCompile(`^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$`)
	issueKeyPattern   = regexp.MustCompile(`^([A-Z][A-Z0-9]{1,9})-([1-9][0-9]{0,9})$`)
)

// checkOrganization records NOT_FOUND on input.organizationId unless the
// organization exists.
func checkOrganization(ctx context.Context, tx *ent.Tx, check *inputCheck, orgID int64) error {
	ok, err := tx.Organization.Query().Where(organization.ID(orgID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("checking organization: %w", err)
	}
	if !ok {
		check.notFound("organization", "input", "organizationId")
		return errRejected
	}
	return nil
}
