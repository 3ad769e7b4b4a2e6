package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/user"
)

// decodeJoinedUser reads into u a user a page read with its rows: the
// object json_build_object wrote of joinedUserFields (loaders.Join). It is
// the hot part of a deep page (a thousand comment authors), so it reads
// that flat object directly instead of through encoding/json's reflection;
// anything else it meets (a nested value, a key it does not know, bad
// syntax) hands the whole object to encoding/json, which then decides.
// TestDecodeJoinedUserMatchesEncodingJSON holds the two to the same
// results.
func decodeJoinedUser(b []byte, u *ent.User) error {
	if ok := decodeFlatUser(b, u); ok {
		return nil
	}
	*u = ent.User{}
	if err := json.Unmarshal(b, u); err != nil {
		return fmt.Errorf("decoding a joined user: %w", err)
	}
	return nil
}

// decodeFlatUser decodes b, reporting false when it is not a flat object
// of the user's fields that it can read exactly.
func decodeFlatUser(b []byte, u *ent.User) bool {
	r := flatReader{b: b}
	if !r.byte('{') {
		return false
	}
	if r.byte('}') {
		return r.end()
	}
	for {
		key, ok := r.string()
		if !ok || !r.byte(':') {
			return false
		}
		switch string(key) {
		case user.FieldID:
			num, ok := r.number()
			if !ok {
				return false
			}
			id, err := strconv.ParseInt(string(num), 10, 64)
			if err != nil {
				return false
			}
			u.ID = id
		case user.FieldCreatedAt, user.FieldUpdatedAt:
			s, ok := r.string()
			if !ok {
				return false
			}
			t := &u.CreatedAt
			if string(key) == user.FieldUpdatedAt {
				t = &u.UpdatedAt
			}
			if err := t.UnmarshalText(s); err != nil {
				return false
			}
		case user.FieldEmail, user.FieldName:
			s, ok := r.string()
			if !ok {
				return false
			}
			if string(key) == user.FieldEmail {
				u.Email = string(s)
			} else {
				u.Name = string(s)
			}
		default:
			return false
		}
		if r.byte(',') {
			continue
		}
		return r.byte('}') && r.end()
	}
}

// flatReader reads the tokens of a flat JSON object. A string with an
// escape, a number that is not a plain integer, or any other value is
// not read (false): decodeJoinedUser then leaves it to encoding/json.
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

// end reports whether only white space is left.
func (r *flatReader) end() bool {
	r.space()
	return r.i == len(r.b)
}

// string reads a string without escapes or control characters.
func (r *flatReader) string() ([]byte, bool) {
	if !r.byte('"') {
		return nil, false
	}
	n := bytes.IndexByte(r.b[r.i:], '"')
	if n < 0 {
		return nil, false
	}
	s := r.b[r.i : r.i+n]
	for _, c := range s {
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	r.i += n + 1
	return s, true
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
