package graph

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/database/databasetest"
	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/issue"
	"github.com/issuegraph/issuegraph/ent/ent/label"
	"github.com/issuegraph/issuegraph/ent/ent/project"
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

// TestUserFieldColumnsKnowEveryUserField: every field of User says which
// columns it reads (userFieldColumns), so a page that selects it reads
// them with its rows; a field left out would make every selection of it
// read all of them. The columns are readable ones.
func TestUserFieldColumnsKnowEveryUserField(t *testing.T) {
	typ := NewExecutableSchema(Config{}).Schema().Types["User"]
	require.NotNil(t, typ)
	var fields []string
	for _, f := range typ.Fields {
		fields = append(fields, f.Name)
	}
	fields = append(fields, "__typename")
	var known []string
	for name, cols := range userFieldColumns {
		known = append(known, name)
		for _, c := range cols {
			assert.Contains(t, joinedUserFields, c, "%s reads %s", name, c)
		}
	}
	assert.ElementsMatch(t, fields, known)
}

// TestNestedFieldColumnsKnowEveryField: every field of Issue, Comment and
// Label says which columns it reads (issueFieldColumns,
// commentFieldColumns, labelFieldColumns), so a page that selects it reads
// them; a field left out would make every selection of it read all of
// them.
func TestNestedFieldColumnsKnowEveryField(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	for typ, tc := range map[string]struct {
		fields  map[string][]string
		columns []string
	}{"Issue": {issueFieldColumns, issue.Columns}, "Comment": {commentFieldColumns, comment.Columns}, "Label": {labelFieldColumns, label.Columns}} {
		fields := []string{"__typename"}
		for _, f := range schema.Types[typ].Fields {
			fields = append(fields, f.Name)
		}
		var known []string
		for name, cols := range tc.fields {
			known = append(known, name)
			for _, c := range cols {
				assert.Contains(t, tc.columns, c, "%s.%s reads %s", typ, name, c)
			}
		}
		assert.ElementsMatch(t, fields, known, typ)
	}
}

// TestFlatReaderKnowsEveryColumn: every column read with other rows (a
// joined user's, a nested label's or comment's) is read by the flat
// reader into the field encoding/json would fill, so a new column cannot
// silently fall back to the slow path or be left out.
func TestFlatReaderKnowsEveryColumn(t *testing.T) {
	for _, tc := range []struct {
		v       any
		columns []string
	}{{&ent.User{}, joinedUserFields}, {&ent.Label{}, label.Columns}, {&ent.Comment{}, comment.Columns}, {&ent.Project{}, project.Columns}} {
		typ := reflect.TypeOf(tc.v).Elem()
		for _, c := range tc.columns {
			var value string
			var field reflect.StructField
			for i := range typ.NumField() {
				if strings.Split(typ.Field(i).Tag.Get("json"), ",")[0] == c {
					field = typ.Field(i)
				}
			}
			require.NotEmpty(t, field.Name, "%T has no field for column %s", tc.v, c)
			switch field.Type {
			case reflect.TypeOf(time.Time{}):
				value = `"2025-01-02T01:06:00.123456+00:00"`
			case reflect.TypeOf(""):
				value = `"x"`
			case reflect.TypeOf(int64(0)), reflect.TypeOf(0):
				value = `7`
			case reflect.TypeOf(false):
				value = `true`
			default:
				t.Fatalf("%T.%s: a column of type %s; teach the flat reader to read it", tc.v, field.Name, field.Type)
			}
			in := []byte(`{"` + c + `":` + value + `}`)
			flat := reflect.New(typ).Interface()
			r := flatReader{b: in}
			require.True(t, r.object(flat) && r.end(), "%T reads %s", tc.v, in)
			want := reflect.New(typ).Interface()
			require.NoError(t, json.Unmarshal(in, want))
			assert.Equal(t, want, flat, "%s", in)
			assert.False(t, reflect.ValueOf(flat).Elem().FieldByIndex(field.Index).IsZero(), "%T.%s is set by %s", tc.v, field.Name, in)
		}
	}
}

// strange are texts that PostgreSQL writes with escapes or in several
// bytes per character.
var strange = []string{"Ada", "", `Quote " and back\slash`, "tab\there, new\nline", "Zoë 東京 🚀", "\u0001\u001f", "</script>", "\u2028 and \ufffd"}

// TestFlatDecodingMatchesEncodingJSON: the flat reader gives what
// encoding/json gives, for the objects and lists PostgreSQL writes (texts
// with quotes, backslashes, control characters and any script, null
// elements) and for anything else it may be handed. What PostgreSQL wrote
// takes the direct path; the fallback is for what it does not write.
func TestFlatDecodingMatchesEncodingJSON(t *testing.T) {
	db := databasetest.New(t, database.Options{})
	var users, labels, comments [][]byte
	for _, s := range strange {
		var u, l, c []byte
		require.NoError(t, db.SQL.QueryRow(`SELECT json_build_object('id', 42::bigint, 'created_at', timestamptz '2025-01-02 01:06:00.123456+00',
			'updated_at', now(), 'email', $1::text, 'name', $2::text)`, s+"@example.com", s).Scan(&u))
		require.NoError(t, db.SQL.QueryRow(`SELECT json_build_object('id', 9::bigint, 'created_at', now(), 'updated_at', timestamptz '1999-12-31 23:59:59+05',
			'version', 3, 'organization_id', 2::bigint, 'name', $1::text, 'color', '#ff0000', 'description', $1::text)`, s).Scan(&l))
		require.NoError(t, db.SQL.QueryRow(`SELECT json_build_object('id', 11::bigint, 'created_at', now(), 'updated_at', now(), 'version', 1,
			'issue_id', 5::bigint, 'organization_id', 2::bigint, 'author_id', -1::bigint, 'body', $1::text)`, s).Scan(&c))
		users, labels, comments = append(users, u), append(labels, l), append(comments, c)
	}
	for _, in := range users {
		var u ent.User
		r := flatReader{b: in}
		assert.True(t, r.object(&u) && r.end(), "direct path for %s", in)
	}
	var lists [][]byte
	for _, objects := range [][][]byte{labels, comments, users} {
		var list []byte
		require.NoError(t, db.SQL.QueryRow(`SELECT json_agg(o ORDER BY n) FROM unnest($1::json[]) WITH ORDINALITY AS t(o, n)`,
			"{"+strings.Join(quoteAll(objects), ",")+"}").Scan(&list))
		lists = append(lists, list)
	}
	var withNull []byte
	require.NoError(t, db.SQL.QueryRow(`SELECT json_agg(o) FROM (VALUES ($1::json), (NULL), ($2::json)) AS t(o)`, string(users[0]), string(users[1])).Scan(&withNull))

	odd := [][]byte{
		[]byte(`{}`), []byte(` { "id" : -7 } `), []byte(`{"id":1,"name":null}`), []byte(`{"id":1.5}`), []byte(`{"id":1e3}`),
		[]byte(`{"id":012}`), []byte(`{"ID":3}`), []byte(`{"id":1,"edges":{}}`), []byte(`{"id":1,}`), []byte(`{"id":1} x`),
		[]byte(`{"name":"a","name":"b"}`), []byte(`{"created_at":"yesterday"}`), []byte(`{"id":"1"}`), []byte(`[]`), []byte(``),
		[]byte(`{"email":"\u00e9"}`), []byte(`{"id":9223372036854775808}`), []byte(`{"version":9223372036854775808}`),
		[]byte(`{"name":"\ud83d\ude80 \ud800"}`), []byte(`{"name":"bad \x"}`), []byte("{\"name\":\"\xff\xfe\"}"), []byte(`{"name":"open`),
		[]byte(`{"body":"a\\"}`), []byte(`{"na\u006de":"a"}`), []byte(`null`), []byte(`{"created_at":"2025-01-02T01:06:00\u002B00:00"}`),
	}
	objects := append(append(append(append([][]byte{}, users...), labels...), comments...), odd...)
	for _, in := range objects {
		sameAsEncodingJSON(t, in, &ent.User{}, &ent.User{})
		sameAsEncodingJSON(t, in, &ent.Label{}, &ent.Label{})
		sameAsEncodingJSON(t, in, &ent.Comment{}, &ent.Comment{})
	}

	oddLists := [][]byte{[]byte(`[]`), []byte(` [ null ] `), []byte(`[{"id":1},]`), []byte(`[{"id":1}] x`), []byte(`[{"id":1},{"id":1.5}]`),
		[]byte(`[[]]`), []byte(`{}`), []byte(`[nul]`), []byte(`[{"id":2}`), []byte(`null`)}
	for i, in := range append(append(lists, withNull), oddLists...) {
		sameListAsEncodingJSON[*ent.User](t, in)
		sameListAsEncodingJSON[*ent.Label](t, in)
		sameListAsEncodingJSON[*ent.Comment](t, in)
		if i < len(lists) {
			var direct []*ent.User
			var directL []*ent.Label
			var directC []*ent.Comment
			ok := []bool{decodeFlatList(in, &directL), decodeFlatList(in, &directC), decodeFlatList(in, &direct)} // lists' order
			assert.True(t, ok[i], "direct path for list %d: %s", i, in)
		}
	}
	var got []*ent.User
	require.True(t, decodeFlatList(withNull, &got))
	require.Len(t, got, 3)
	assert.Nil(t, got[1])
}

func quoteAll(objects [][]byte) []string {
	out := make([]string, len(objects))
	for i, o := range objects {
		out[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(string(o)) + `"`
	}
	return out
}

// sameAsEncodingJSON decodes in with decodeFlat into got and with
// encoding/json into want, and holds them to the same result.
func sameAsEncodingJSON(t *testing.T, in []byte, want, got any) {
	t.Helper()
	wantErr := json.Unmarshal(in, want)
	gotErr := decodeFlat(in, got)
	if wantErr != nil {
		assert.Error(t, gotErr, "%T %s", got, in)
		return
	}
	require.NoError(t, gotErr, "%T %s", got, in)
	assert.Equal(t, want, got, "%T %s", got, in)
}

// sameListAsEncodingJSON holds decodeList to what encoding/json decodes.
func sameListAsEncodingJSON[V any](t *testing.T, in []byte) {
	t.Helper()
	want := []V{}
	wantErr := json.Unmarshal(in, &want)
	got, gotErr := decodeList[V](in)
	if wantErr != nil {
		assert.Error(t, gotErr, "%T %s", got, in)
		return
	}
	require.NoError(t, gotErr, "%T %s", got, in)
	assert.Equal(t, want, got, "%T %s", got, in)
}
