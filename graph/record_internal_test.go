package graph

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/user"
)

// notUTC returns a connection to a fresh database whose session time zone
// is not UTC (Asia/Kolkata, +05:30), closed when the test ends.
func notUTC(t *testing.T) *sql.Conn {
	t.Helper()
	db := databasetest.New(t, database.Options{})
	ctx := context.Background()
	conn, err := db.SQL.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = conn.ExecContext(ctx, `SET TIME ZONE 'Asia/Kolkata'`)
	require.NoError(t, err)
	return conn
}

// TestUserRecordsMatchTheirJSON: a user PostgreSQL writes as a record of
// the columns a statement joins (loaders.Join) reads back as the same user
// as the JSON object of those columns, whatever the texts hold (quotes,
// backslashes, commas, parentheses, white space, nothing, any script), in
// a session whose time zone is not UTC, for every column a user is joined
// with and for a selection of some of them.
func TestUserRecordsMatchTheirJSON(t *testing.T) {
	ctx := context.Background()
	conn := notUTC(t)

	texts := append([]string{"a,b", "(x)", ")", "\"", `\`, " lead", "trail ", "two  spaces", "NULL", "()", `""`, "a\"b\\c,d(e)f"}, strange...)
	for _, columns := range [][]string{joinedUserFields, {user.FieldID, user.FieldName}, {user.FieldID}} {
		var record, object []string
		for _, c := range columns {
			record = append(record, `"`+c+`"`)
			object = append(object, `'`+c+`', "`+c+`"`)
		}
		for _, s := range texts {
			query := `SELECT ROW(` + strings.Join(record, ", ") + `)::text, json_build_object(` + strings.Join(object, ", ") + `)
				FROM (SELECT 9007199254740993::bigint AS id, timestamptz '2025-01-02 01:06:00.123456+00' AS created_at,
					timestamptz '1999-12-31 23:59:59+05' AS updated_at, $1::text AS email, $2::text AS name) AS u`
			var raw, js []byte
			require.NoError(t, conn.QueryRowContext(ctx, query, s+"@example.com", s).Scan(&raw, &js))
			var fromRecord, fromJSON ent.User
			require.NoError(t, decodeUserRecord(raw, columns, &fromRecord), "%s", raw)
			require.NoError(t, decodeFlat(js, &fromJSON), "%s", js)
			assert.Equal(t, fromJSON.ID, fromRecord.ID, "%s", raw)
			assert.Equal(t, fromJSON.Name, fromRecord.Name, "%s", raw)
			assert.Equal(t, fromJSON.Email, fromRecord.Email, "%s", raw)
			assert.True(t, fromJSON.CreatedAt.Equal(fromRecord.CreatedAt), "%s: %s", raw, fromRecord.CreatedAt)
			assert.True(t, fromJSON.UpdatedAt.Equal(fromRecord.UpdatedAt), "%s: %s", raw, fromRecord.UpdatedAt)
			assert.Equal(t, fromJSON.CreatedAt.Format("2006-01-02T15:04:05.999999Z07:00"), fromRecord.CreatedAt.Format("2006-01-02T15:04:05.999999Z07:00"))
		}
	}
	var negative []byte
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT ROW((-9223372036854775808)::bigint, 'Ada')::text`).Scan(&negative))
	var u ent.User
	require.NoError(t, decodeUserRecord(negative, []string{user.FieldID, user.FieldName}, &u))
	assert.Equal(t, int64(-9223372036854775808), u.ID)
}

// TestJoinedUserColumnsMatchTheirRecords: a user a large page joins after
// its rows comes back as a column per field (loaders.JoinedFields),
// scanned by database/sql; each reads back as the same user as the record
// of those columns, in a session whose time zone is not UTC. A value of
// another type is an error.
func TestJoinedUserColumnsMatchTheirRecords(t *testing.T) {
	ctx := context.Background()
	conn := notUTC(t)

	var record []string
	for _, c := range joinedUserFields {
		record = append(record, `"`+c+`"`)
	}
	query := `SELECT ROW(` + strings.Join(record, ", ") + `)::text, ` + strings.Join(record, ", ") + `
		FROM (SELECT 9007199254740993::bigint AS id, timestamptz '2025-01-02 01:06:00.123456+00' AS created_at,
			timestamptz '1999-12-31 23:59:59+05' AS updated_at, $1::text AS email, $2::text AS name) AS u`
	for _, s := range append([]string{"a,b", `"`, `\`, "", "NULL"}, strange...) {
		var raw []byte
		values := make([]any, len(joinedUserFields))
		dest := []any{&raw}
		for i := range values {
			dest = append(dest, &values[i])
		}
		require.NoError(t, conn.QueryRowContext(ctx, query, s+"@example.com", s).Scan(dest...))
		var fromRecord, fromColumns ent.User
		require.NoError(t, decodeUserRecord(raw, joinedUserFields, &fromRecord), "%s", raw)
		for i, c := range joinedUserFields {
			require.NoError(t, setUserValue(&fromColumns, c, values[i]), "%s %T", c, values[i])
		}
		assert.Equal(t, fromRecord.ID, fromColumns.ID, "%s", raw)
		assert.Equal(t, fromRecord.Name, fromColumns.Name, "%s", raw)
		assert.Equal(t, fromRecord.Email, fromColumns.Email, "%s", raw)
		assert.True(t, fromRecord.CreatedAt.Equal(fromColumns.CreatedAt), "%s: %s", raw, fromColumns.CreatedAt)
		assert.True(t, fromRecord.UpdatedAt.Equal(fromColumns.UpdatedAt), "%s: %s", raw, fromColumns.UpdatedAt)
	}
	var u ent.User
	assert.Error(t, setUserValue(&u, user.FieldID, "7"))
	assert.Error(t, setUserValue(&u, user.FieldName, int64(7)))
	assert.Error(t, setUserValue(&u, user.FieldCreatedAt, "2025-01-02"))
	assert.Error(t, setUserValue(&u, user.FieldPasswordHash, "x"))
}

// TestBadUserRecordsAreErrors: what PostgreSQL does not write as a record
// of the expected columns is an error, never a user read half right.
func TestBadUserRecordsAreErrors(t *testing.T) {
	idName := []string{user.FieldID, user.FieldName}
	for _, in := range []string{
		``, `(`, `(1`, `(1,`, `(1,Ada`, `1,Ada)`, `(1,Ada)x`, `(1,Ada,x)`, `(1)`, `(,Ada)`, `(1,)`,
		`(1,"Ada)`, `(1,"Ada"x)`, `(1,A"da)`, `(1,A\da)`, `(1,A(da)`, `(x,Ada)`, `(1.5,Ada)`, `(-,Ada)`,
		`(9223372036854775808,Ada)`, `(-9223372036854775809,Ada)`, `(99999999999999999999,Ada)`, `(1,"Ada\`,
	} {
		var u ent.User
		assert.Error(t, decodeUserRecord([]byte(in), idName, &u), "%s", in)
	}
	var u ent.User
	assert.Error(t, decodeUserRecord([]byte(`(1,yesterday)`), []string{user.FieldID, user.FieldCreatedAt}, &u))
	assert.Error(t, decodeUserRecord([]byte(`(1,x)`), []string{user.FieldID, user.FieldPasswordHash}, &u), "the password hash is never joined")
	var empty ent.User
	require.NoError(t, decodeUserRecord([]byte(`(1,"")`), idName, &empty))
	assert.Equal(t, ent.User{ID: 1}, empty)
}
