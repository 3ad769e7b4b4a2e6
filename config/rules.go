package config

import (
	"fmt"
	"net"
	"slices"
	"time"
)

// Rule is what production mode requires of one setting. Its text is the
// settings table's Production column and its check is what Config.check
// runs, so the documented rule and the enforced one are the same value.
// The zero Rule requires nothing.
type Rule struct {
	text string
	// check returns what is wrong with c, completing "<VARIABLE> ...",
	// or "" when c obeys the rule.
	check func(c Config) string
}

// String is the rule as the settings table shows it.
func (r Rule) String() string { return r.text }

// devOnly is def in development and empty in production, for settings that
// production must be given explicitly.
func devOnly(prod bool, def string) string {
	if prod {
		return ""
	}
	return def
}

// is requires a boolean setting to be want.
func is(want bool, get func(Config) bool) Rule {
	return Rule{text: fmt.Sprint(want), check: func(c Config) string {
		if get(c) != want {
			return fmt.Sprintf("must be %t in production", want)
		}
		return ""
	}}
}

// required requires a setting to be set explicitly.
func required(get func(Config) string) Rule {
	return Rule{text: "required", check: func(c Config) string {
		if get(c) == "" {
			return "is required in production"
		}
		return ""
	}}
}

// minSecretBytes is the shortest HMAC key production accepts: 256 bits,
// the size of the SHA-256 block the tokens are signed with.
const minSecretBytes = 32

// signingKey requires a secret of at least minSecretBytes that is not the
// development key.
func signingKey(get func(Config) string) Rule {
	return Rule{text: fmt.Sprintf("required, %d+ bytes, not the development key", minSecretBytes), check: func(c Config) string {
		switch key := get(c); {
		case key == "":
			return fmt.Sprintf("is required in production: set a random secret of %d+ bytes", minSecretBytes)
		case key == DevJWTSecret:
			return fmt.Sprintf("is the development key; set a random secret of %d+ bytes", minSecretBytes)
		case len(key) < minSecretBytes:
			return fmt.Sprintf("must be at least %d bytes in production", minSecretBytes)
		}
		return ""
	}}
}

// atMost bounds a duration; shown is how the table writes limit.
func atMost(limit time.Duration, shown string, get func(Config) time.Duration) Rule {
	return Rule{text: "at most " + shown, check: func(c Config) string {
		if get(c) > limit {
			return "must be at most " + shown + " in production"
		}
		return ""
	}}
}

// noWildcard refuses "*" in a list of origins.
func noWildcard(get func(Config) []string) Rule {
	return Rule{text: "no `*`", check: func(c Config) string {
		if slices.Contains(get(c), "*") {
			return "must list origins, not * in production"
		}
		return ""
	}}
}

// privateAddress requires a listen address on a loopback or private IP
// (RFC 1918, RFC 4193), or "off": metrics and the profiler show internals
// and must not answer on a public interface. An address without a host
// (":9464") or a wildcard one listens on every interface and is refused; a
// host name cannot be judged, so it is refused too.
func privateAddress(get func(Config) string) Rule {
	return Rule{text: "a private address or `off`", check: func(c Config) string {
		addr := get(c)
		if addr == "off" {
			return ""
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Sprintf("must be host:port, not %q", addr)
		}
		ip := net.ParseIP(host)
		if host == "localhost" || (ip != nil && !ip.IsUnspecified() && (ip.IsLoopback() || ip.IsPrivate())) {
			return ""
		}
		return fmt.Sprintf("must be a loopback or private IP address in production (or off), not %q", addr)
	}}
}
