package deploy_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/servertest"
	"github.com/issuegraph/issuegraph/subscriptions"
)

// TestBackupRestoreRunbook follows docs/backups.md: pg_dump of a live
// database, pg_restore into a fresh one, a server started on the copy
// serves the data, a subscriber resuming from a cursor the backup has
// replays from the log, and one resuming from a cursor newer than the
// backup is told to refetch.
func TestBackupRestoreRunbook(t *testing.T) {
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Skip("pg_dump is not installed (PostgreSQL's client package)")
	}
	pgRestore, err := exec.LookPath("pg_restore")
	if err != nil {
		t.Skip("pg_restore is not installed (PostgreSQL's client package)")
	}
	live := servertest.Start(t)
	token := live.SignUp(t, "backup@example.com", "Backup")
	owner := live.As(token)
	var org struct {
		CreateOrganization struct{ Organization struct{ ID string } }
	}
	owner.Do(t, `mutation{ createOrganization(input:{slug:"backup",name:"Backup"}){ organization{id} } }`, nil).MustOK(t).Decode(t, &org)
	var proj struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	owner.Do(t, `mutation($o:ID!){ createProject(input:{organizationId:$o,key:"BAK",name:"Backup"}){ project{id} } }`,
		map[string]any{"o": org.CreateOrganization.Organization.ID}).MustOK(t).Decode(t, &proj)
	projectID := proj.CreateProject.Project.ID
	createIssue := func(title string) {
		owner.Do(t, `mutation($p:ID!,$t:String!){ createIssue(input:{projectId:$p,title:$t}){ issue{id} } }`,
			map[string]any{"p": projectID, "t": title}).MustOK(t)
	}
	for i := 0; i < 3; i++ {
		createIssue(fmt.Sprint("before the backup ", i))
	}
	head := publishedHead(t, live.DB.SQL)

	// 1. Dump the live database while the server runs (custom format).
	dump := filepath.Join(t.TempDir(), "issuegraph.dump")
	out, err := exec.Command(pgDump, "--format=custom", "--no-owner", "--file", dump, live.Config.DatabaseURL).CombinedOutput()
	require.NoError(t, err, "pg_dump: %s", out)

	// Life goes on after the backup: a subscriber sees these events.
	createIssue("after the backup")
	newer := publishedHead(t, live.DB.SQL)
	require.Greater(t, newer, head)

	// 2. Restore into a fresh, empty database.
	restored := emptyDatabase(t)
	out, err = exec.Command(pgRestore, "--no-owner", "--exit-on-error", "--dbname", restored, dump).CombinedOutput()
	require.NoError(t, err, "pg_restore: %s", out)

	// 3. A server starts on the copy: ready, and it serves the data.
	copyEnv := servertest.Start(t, servertest.WithDatabase(restored))
	resp, err := http.Get(copyEnv.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "no migration is missing")
	var issues struct {
		Node struct{ Issues struct{ TotalCount int } }
	}
	copyEnv.As(token).Do(t, `query($p:ID!){ node(id:$p){ ... on Project { issues { totalCount } } } }`,
		map[string]any{"p": projectID}).MustOK(t).Decode(t, &issues)
	assert.Equal(t, 3, issues.Node.Issues.TotalCount, "what the backup holds, and the token signed before it still works")

	// 4. A subscriber resuming from a cursor the backup holds replays
	// what came after it.
	ws := copyEnv.DialWS(t, servertest.TransportWS)
	ws.Init(t, token)
	ws.Subscribe(t, "1", `subscription($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){ cursor } }`,
		map[string]any{"p": projectID, "a": subscriptions.Cursor(head - 1)})
	m := ws.Next(t, 10*time.Second)
	require.Equal(t, "next", m.Type, "%s", m.Payload)
	assert.Contains(t, string(m.Payload), subscriptions.Cursor(head))

	// 5. One resuming from a cursor newer than the backup is told, in so
	// many words, to refetch.
	ws.Subscribe(t, "2", `subscription($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){ cursor } }`,
		map[string]any{"p": projectID, "a": subscriptions.Cursor(newer)})
	for {
		m = ws.Next(t, 10*time.Second)
		if m.ID == "2" {
			break
		}
	}
	payload := string(m.Payload)
	assert.Contains(t, []string{"error", "next"}, m.Type)
	assert.Contains(t, payload, "BAD_USER_INPUT")
	assert.Contains(t, payload, "restored from a backup")
	assert.Contains(t, payload, "refetch")
	assert.False(t, strings.Contains(payload, "retention"), "not mistaken for an expired cursor: %s", payload)
}

// publishedHead waits until every event is positioned and published and
// returns the last position.
func publishedHead(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var head int64
	require.Eventually(t, func() bool {
		var pending int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM events WHERE position IS NULL OR NOT published`).Scan(&pending))
		require.NoError(t, db.QueryRow(`SELECT coalesce(max(position), 0) FROM events`).Scan(&head))
		return pending == 0 && head > 0
	}, 20*time.Second, 20*time.Millisecond)
	return head
}
