package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/comment"
	"github.com/issuegraph/issuegraph/ent/ent/label"
	"github.com/issuegraph/issuegraph/ent/ent/project"
	"github.com/issuegraph/issuegraph/ent/ent/user"
	"github.com/issuegraph/issuegraph/loaders"
)

// Rows read with other rows arrive as JSON that PostgreSQL wrote: a user
// joined with a page's row is one json_build_object of its columns, a
// nested page of labels or comments is a json_agg of such objects. Those
// are the hot part of reading a board or a deep page (hundreds of objects
// per request), so they are read here directly, column by column, instead
// of through encoding/json's reflection. Anything this reader does not
// expect (a key that is not a column, a nested value, a null column, bad
// syntax) hands the whole value to encoding/json, which then decides;
// TestFlatDecodingMatchesEncodingJSON holds the two to the same results.

// decodeFlat reads into v (*ent.User, *ent.Label, *ent.Comment or
// *ent.Project) the JSON object b of its columns.
func decodeFlat(b []byte, v any) error {
	r := flatReader{b: b}
	if r.object(v) && r.end() {
		return nil
	}
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %T: %w", v, err)
	}
	return nil
}

// decodeNested reads the JSON array a Nest read with row in the column
// as; an empty list (null) is an empty slice, a null element a nil one.
func decodeNested[V any](row loaders.Row, as string) ([]V, error) {
	raw, err := loaders.Joined(row, as)
	if err != nil {
		return nil, err
	}
	return decodeList[V](raw)
}

// decodeList reads the JSON array b (nil: an empty one).
func decodeList[V any](b []byte) ([]V, error) {
	out := []V{}
	if b == nil || decodeFlatList(b, &out) {
		return out, nil
	}
	out = []V{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding a list of %T: %w", out, err)
	}
	return out, nil
}

// decodeFlatList reads the JSON array b into *out when its elements are
// of a type the flat reader knows, reporting whether it could.
func decodeFlatList[V any](b []byte, out *[]V) bool {
	switch out := any(out).(type) {
	case *[]*ent.User:
		return flatList(b, out)
	case *[]*ent.Label:
		return flatList(b, out)
	case *[]*ent.Comment:
		return flatList(b, out)
	}
	return false
}

// flatList reads a JSON array of flat objects of E's columns (or nulls).
func flatList[E any](b []byte, out *[]*E) bool {
	r := flatReader{b: b}
	if !r.byte('[') {
		return false
	}
	if r.byte(']') {
		return r.end()
	}
	for {
		if r.literal("null") {
			*out = append(*out, nil)
		} else {
			e := new(E)
			if !r.object(e) {
				return false
			}
			*out = append(*out, e)
		}
		if r.byte(',') {
			continue
		}
		return r.byte(']') && r.end()
	}
}

// readColumn reads the value of column key into v: false when key is not
// one of v's columns or the value is not what the column holds. A column
// added to a schema whose rows are read here must be added here too
// (TestFlatReaderKnowsEveryColumn).
func readColumn(r *flatReader, v any, key []byte) bool {
	switch v := v.(type) {
	case *ent.User:
		switch string(key) {
		case user.FieldID:
			return r.int64(&v.ID)
		case user.FieldCreatedAt:
			return r.time(&v.CreatedAt)
		case user.FieldUpdatedAt:
			return r.time(&v.UpdatedAt)
		case user.FieldEmail:
			return r.text(&v.Email)
		case user.FieldName:
			return r.text(&v.Name)
		}
	case *ent.Label:
		switch string(key) {
		case label.FieldID:
			return r.int64(&v.ID)
		case label.FieldCreatedAt:
			return r.time(&v.CreatedAt)
		case label.FieldUpdatedAt:
			return r.time(&v.UpdatedAt)
		case label.FieldVersion:
			return r.int(&v.Version)
		case label.FieldOrganizationID:
			return r.int64(&v.OrganizationID)
		case label.FieldName:
			return r.text(&v.Name)
		case label.FieldColor:
			return r.text(&v.Color)
		case label.FieldDescription:
			return r.text(&v.Description)
		}
	case *ent.Project:
		switch string(key) {
		case project.FieldID:
			return r.int64(&v.ID)
		case project.FieldCreatedAt:
			return r.time(&v.CreatedAt)
		case project.FieldUpdatedAt:
			return r.time(&v.UpdatedAt)
		case project.FieldVersion:
			return r.int(&v.Version)
		case project.FieldOrganizationID:
			return r.int64(&v.OrganizationID)
		case project.FieldKey:
			return r.text(&v.Key)
		case project.FieldName:
			return r.text(&v.Name)
		case project.FieldDescription:
			return r.text(&v.Description)
		case project.FieldArchived:
			return r.bool(&v.Archived)
		case project.FieldIssueCount:
			return r.int(&v.IssueCount)
		case project.FieldIssueTotal:
			return r.int(&v.IssueTotal)
		}
	case *ent.Comment:
		switch string(key) {
		case comment.FieldID:
			return r.int64(&v.ID)
		case comment.FieldCreatedAt:
			return r.time(&v.CreatedAt)
		case comment.FieldUpdatedAt:
			return r.time(&v.UpdatedAt)
		case comment.FieldVersion:
			return r.int(&v.Version)
		case comment.FieldIssueID:
			return r.int64(&v.IssueID)
		case comment.FieldOrganizationID:
			return r.int64(&v.OrganizationID)
		case comment.FieldAuthorID:
			return r.int64(&v.AuthorID)
		case comment.FieldBody:
			return r.text(&v.Body)
		}
	}
	return false
}

// flatReader reads the tokens of flat JSON objects and arrays of them.
type flatReader struct {
	b []byte
	i int
}

func (r *flatReader) space() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\n' || r.b[r.i] == '\t' || r.b[r.i] == '\r') {
		r.i++
	}
}

// byte consumes c, after white space, if it is next.
func (r *flatReader) byte(c byte) bool {
	r.space()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// literal consumes word (null), after white space, if it is next.
func (r *flatReader) literal(word string) bool {
	r.space()
	if bytes.HasPrefix(r.b[r.i:], []byte(word)) {
		r.i += len(word)
		return true
	}
	return false
}

// end reports whether only white space is left.
func (r *flatReader) end() bool {
	r.space()
	return r.i == len(r.b)
}

// object reads a flat object of v's columns.
func (r *flatReader) object(v any) bool {
	if !r.byte('{') {
		return false
	}
	if r.byte('}') {
		return true
	}
	for {
		key, plain, ok := r.quoted()
		if !ok || !plain || !r.byte(':') || !readColumn(r, v, key) {
			return false
		}
		if r.byte(',') {
			continue
		}
		return r.byte('}')
	}
}

// quoted reads a string token and returns what is between its quotes;
// plain is false when that holds an escape or a byte that is not ASCII,
// which only encoding/json decodes exactly as it would.
func (r *flatReader) quoted() (raw []byte, plain, ok bool) {
	if !r.byte('"') {
		return nil, false, false
	}
	start := r.i
	plain = true
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.b[start : r.i-1], plain, true
		case c == '\\':
			plain = false
			r.i += 2
			continue
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			plain = false
		}
		r.i++
	}
	return nil, false, false
}

// text reads a string into s.
func (r *flatReader) text(s *string) bool {
	r.space()
	open := r.i
	raw, plain, ok := r.quoted()
	switch {
	case !ok:
		return false
	case plain:
		*s = string(raw)
		return true
	case !bytes.ContainsRune(raw, '\\') && utf8.Valid(raw):
		*s = string(raw)
		return true
	}
	return json.Unmarshal(r.b[open:r.i], s) == nil
}

// time reads a timestamp (RFC 3339, as PostgreSQL writes timestamptz).
func (r *flatReader) time(t *time.Time) bool {
	raw, plain, ok := r.quoted()
	return ok && plain && t.UnmarshalText(raw) == nil
}

// bool reads true or false.
func (r *flatReader) bool(b *bool) bool {
	switch {
	case r.literal("true"):
		*b = true
	case r.literal("false"):
		*b = false
	default:
		return false
	}
	return true
}

// int64 reads an integer.
func (r *flatReader) int64(n *int64) bool {
	num, ok := r.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	*n = v
	return err == nil
}

// int reads an integer that fits an int.
func (r *flatReader) int(n *int) bool {
	num, ok := r.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(num), 10, strconv.IntSize)
	*n = int(v)
	return err == nil
}

// number reads an integer as JSON writes it: an optional minus and digits,
// without leading zeros.
func (r *flatReader) number() ([]byte, bool) {
	r.space()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || (r.b[digits] == '0' && r.i > digits+1) ||
		(r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E')) {
		return nil, false
	}
	return r.b[start:r.i], true
}
