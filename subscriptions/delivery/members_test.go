package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// TestMembershipChecksAreSharedOnlyWhenFreshEnough: a check whose query
// started after an event arrived answers every subscriber of that viewer
// for that event; an event that arrives later gets a query of its own,
// which sees a membership removed in between.
func TestMembershipChecksAreSharedOnlyWhenFreshEnough(t *testing.T) {
	t.Parallel()
	db := databasetest.New(t, database.Options{})
	ctx := viewer.SystemContext(context.Background())
	u := db.Client.User.Create().SetEmail("checked@example.com").SetName("Checked").SetPasswordHash("x").SaveX(ctx)
	org := db.Client.Organization.Create().SetSlug("checked").SetName("Checked").SaveX(ctx)
	m := db.Client.Membership.Create().SetUserID(u.ID).SetOrganizationID(org.ID).SetRole(membership.RoleMEMBER).SaveX(ctx)
	checks := newMemberChecks(db.Client)

	arrived := time.Now()
	first := checks.ask(u.ID, org.ID, arrived)
	ok, err := first.wait(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Same(t, first, checks.ask(u.ID, org.ID, arrived), "another subscriber of the viewer, same event: the same check")

	db.Client.Membership.DeleteOne(m).ExecX(ctx)
	later := checks.ask(u.ID, org.ID, time.Now())
	assert.NotSame(t, first, later, "a later event: a query of its own")
	ok, err = later.wait(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "the removal is seen")

	ok, err = checks.isMember(ctx, u.ID, org.ID)
	require.NoError(t, err)
	assert.False(t, ok)
}
