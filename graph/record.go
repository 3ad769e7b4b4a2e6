package graph

import (
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/user"
)

// A user read with a page's or a lookup's rows (an issue's assignee, a
// comment's author) arrives as PostgreSQL's text form of a record of the
// columns the statement chose, in their order (loaders.Join):
//
//	(7,"Ada Lovelace",ada@example.com)
//
// A field is in double quotes when it is empty or holds a quote, a
// backslash, a parenthesis, a comma or white space, and inside them a
// quote or a backslash is doubled; a NULL is nothing at all. Every value
// is its type's own text output (timestamps as lib/pq reads them).

// decodeUserRecord reads into u the record b of the users columns
// columns.
func decodeUserRecord(b []byte, columns []string, u *ent.User) error {
	r := recordReader{b: b}
	if !r.byte('(') {
		return fmt.Errorf("decoding a user: %q is not a record", b)
	}
	for i, c := range columns {
		if i > 0 && !r.byte(',') {
			return fmt.Errorf("decoding a user: %q has fewer than %d fields", b, len(columns))
		}
		v, null, err := r.field()
		if err != nil {
			return fmt.Errorf("decoding a user: %q: %w", b, err)
		}
		if null {
			return fmt.Errorf("decoding a user: %s is null in %q", c, b)
		}
		if err := setUserColumn(u, c, v); err != nil {
			return fmt.Errorf("decoding a user: %s of %q: %w", c, b, err)
		}
	}
	if !r.byte(')') || r.i != len(b) {
		return fmt.Errorf("decoding a user: %q has more than %d fields", b, len(columns))
	}
	return nil
}

// setUserColumn sets u's field of column to the text v. A users column a
// statement may join must be read here (TestUserRecordsReadEveryColumn).
func setUserColumn(u *ent.User, column string, v []byte) error {
	var err error
	switch column {
	case user.FieldID:
		u.ID, err = recordInt(v)
	case user.FieldCreatedAt:
		u.CreatedAt, err = pq.ParseTimestamp(nil, string(v))
	case user.FieldUpdatedAt:
		u.UpdatedAt, err = pq.ParseTimestamp(nil, string(v))
	case user.FieldEmail:
		u.Email = string(v)
	case user.FieldName:
		u.Name = string(v)
	default:
		err = errors.New("not a column a user is read with")
	}
	return err
}

// setUserValue sets u's field of column to v, the value database/sql
// scanned from a column of its own (a page that joined its users after
// its rows, loaders.JoinedFields). Every column setUserColumn reads is
// read here too (TestJoinedUserColumnsMatchTheirRecords).
func setUserValue(u *ent.User, column string, v any) error {
	var ok bool
	switch column {
	case user.FieldID:
		u.ID, ok = v.(int64)
	case user.FieldCreatedAt:
		u.CreatedAt, ok = v.(time.Time)
	case user.FieldUpdatedAt:
		u.UpdatedAt, ok = v.(time.Time)
	case user.FieldEmail:
		u.Email, ok = text(v)
	case user.FieldName:
		u.Name, ok = text(v)
	default:
		return errors.New("not a column a user is read with")
	}
	if !ok {
		return fmt.Errorf("%s of unexpected type %T", column, v)
	}
	return nil
}

// text is v, a text column's value as database/sql scanned it, as a
// string.
func text(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// recordInt reads a bigint's text: an optional minus and decimal digits.
func recordInt(v []byte) (int64, error) {
	digits := v
	if len(v) > 0 && v[0] == '-' {
		digits = v[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, fmt.Errorf("%q is not a bigint", v)
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a bigint", v)
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case v[0] == '-' && n <= 1<<63:
		return -int64(n-1) - 1, nil
	case v[0] != '-' && n < 1<<63:
		return int64(n), nil
	}
	return 0, fmt.Errorf("%q is out of range for a bigint", v)
}

// recordReader reads the fields of a record's text form.
type recordReader struct {
	b []byte
	i int
}

// byte consumes c if it is next.
func (r *recordReader) byte(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// field reads the next field: its text (quotes removed, doubled quotes and
// backslashes made single), or null when it is empty and unquoted.
func (r *recordReader) field() (v []byte, null bool, err error) {
	if !r.byte('"') {
		start := r.i
		for r.i < len(r.b) && r.b[r.i] != ',' && r.b[r.i] != ')' {
			if c := r.b[r.i]; c == '"' || c == '\\' || c == '(' {
				return nil, false, fmt.Errorf("%q unquoted at %d", c, r.i)
			}
			r.i++
		}
		return r.b[start:r.i], r.i == start, nil
	}
	start := r.i
	var unescaped []byte // only when the field holds an escape
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c != '"' && c != '\\' {
			r.i++
			continue
		}
		if c == '"' && (r.i+1 == len(r.b) || r.b[r.i+1] != '"') {
			// The closing quote.
			if unescaped == nil {
				v = r.b[start:r.i]
			} else {
				v = append(unescaped, r.b[start:r.i]...)
			}
			r.i++
			return v, false, nil
		}
		if r.i+1 == len(r.b) {
			break
		}
		// A doubled quote, or a backslash before any byte: that byte.
		unescaped = append(append(unescaped, r.b[start:r.i]...), r.b[r.i+1])
		r.i += 2
		start = r.i
	}
	return nil, false, errors.New("a quoted field does not end")
}
