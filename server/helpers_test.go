package server_test

import (
	"encoding/base64"
	"strconv"
	"time"
)

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func itoa(i int) string { return strconv.Itoa(i) }

// Bounds for require.Eventually: generous, because these wait on state
// changes, not on speed.
const (
	waitLong  = 20 * time.Second
	pollEvery = 20 * time.Millisecond
)

func fromBase64URL(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}
