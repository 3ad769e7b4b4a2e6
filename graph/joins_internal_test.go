package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/issuegraph/issuegraph/ent/ent/user"
)

// TestJoinedUsersHaveEveryReadableField: a user read with a page (an
// issue's assignee) must answer every field a user read by id does, so a
// new column of users has to be added to joinedUserFields too.
func TestJoinedUsersHaveEveryReadableField(t *testing.T) {
	var want []string
	for _, c := range user.Columns {
		if c != user.FieldPasswordHash {
			want = append(want, c)
		}
	}
	assert.ElementsMatch(t, want, joinedUserFields)
}
