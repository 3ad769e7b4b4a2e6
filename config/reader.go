package config

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// reader parses values and collects every parse problem instead of
// stopping at the first.
type reader struct {
	getenv   func(string) string
	problems []string
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) integer(name string, def int) int {
	return parse(r, name, def, strconv.Atoi, "a whole number")
}

func (r *reader) number(name string, def float64) float64 {
	return parse(r, name, def, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) }, "a number")
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	return parse(r, name, def, time.ParseDuration, "a duration such as 5s or 15m")
}

func (r *reader) boolean(name string, def bool) bool {
	return parse(r, name, def, strconv.ParseBool, "true or false")
}

// parse reads name with p, trimmed; def when it is unset, and def with a
// problem naming what it must be when p refuses it.
func parse[T any](r *reader, name string, def T, p func(string) (T, error), what string) T {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	out, err := p(strings.TrimSpace(v))
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s must be %s, not %q", name, what, v))
		return def
	}
	return out
}

// apiKeyIDs reads a list of API key global IDs, as the API shows them
// (base64url of "APIKey:<id>", the format graph/globalid.go issues), and
// returns their database ids. Operators copy them from the API; a value
// that is not one is named, so a typo cannot silently exempt nothing.
func (r *reader) apiKeyIDs(name string) []int64 {
	var ids []int64
	for _, gid := range r.list(name, "") {
		raw, err := base64.RawURLEncoding.DecodeString(gid)
		num, ok := strings.CutPrefix(string(raw), "APIKey:")
		id, perr := strconv.ParseInt(num, 10, 64)
		if err != nil || !ok || perr != nil || id <= 0 {
			r.problems = append(r.problems, fmt.Sprintf("%s must list API key IDs as the API shows them, and %q is not one", name, gid))
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

func (r *reader) list(name, def string) []string {
	var out []string
	for _, s := range strings.Split(r.str(name, def), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
