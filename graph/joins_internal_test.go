package graph

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent"
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

// TestDecodeJoinedUserMatchesEncodingJSON: the joined-user reader gives
// what encoding/json gives, for the objects PostgreSQL writes (names with
// quotes, backslashes, control characters and any script) and for anything
// else it may be handed.
func TestDecodeJoinedUserMatchesEncodingJSON(t *testing.T) {
	db := databasetest.New(t, database.Options{})
	names := []string{"Ada", "", `Quote " and back\slash`, "tab\there, new\nline", "Zoë 東京 🚀", "\u0001\u001f", "</script>"}
	var inputs [][]byte
	for _, n := range names {
		var b []byte
		require.NoError(t, db.SQL.QueryRow(`SELECT json_build_object('id', 42::bigint, 'created_at', timestamptz '2025-01-02 01:06:00.123456+00',
			'updated_at', now(), 'email', $1::text, 'name', $2::text)`, n+"@example.com", n).Scan(&b))
		inputs = append(inputs, b)
	}
	inputs = append(inputs,
		[]byte(`{}`), []byte(` { "id" : -7 } `), []byte(`{"id":1,"name":null}`), []byte(`{"id":1.5}`), []byte(`{"id":1e3}`),
		[]byte(`{"id":012}`), []byte(`{"ID":3}`), []byte(`{"id":1,"edges":{}}`), []byte(`{"id":1,}`), []byte(`{"id":1} x`),
		[]byte(`{"name":"a","name":"b"}`), []byte(`{"created_at":"yesterday"}`), []byte(`{"id":"1"}`), []byte(`[]`), []byte(``),
		[]byte(`{"email":"\u00e9"}`), []byte(`{"id":9223372036854775808}`))
	for _, in := range inputs {
		var want, got ent.User
		wantErr := json.Unmarshal(in, &want)
		gotErr := decodeJoinedUser(in, &got)
		if wantErr != nil {
			assert.Error(t, gotErr, "%s", in)
			continue
		}
		require.NoError(t, gotErr, "%s", in)
		assert.Equal(t, want.ID, got.ID, "%s", in)
		assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "%s", in)
		assert.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "%s", in)
		assert.Equal(t, want.Email, got.Email, "%s", in)
		assert.Equal(t, want.Name, got.Name, "%s", in)
	}
	// The objects PostgreSQL wrote take the direct path: the fallback is
	// for what it does not write.
	var u ent.User
	assert.True(t, decodeFlatUser(inputs[0], &u), "%s", inputs[0])
}
