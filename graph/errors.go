package graph

import (
	"errors"
	"fmt"

	"github.com/issuegraph/issuegraph/ent/ent/privacy"
	"github.com/issuegraph/issuegraph/ent/rule"
)

// Code is a top-level error code, sent to clients as extensions.code. The
// list is fixed by the API conventions; clients switch on these values.
type Code string

// Error codes.
const (
	CodeUnauthenticated         Code = "UNAUTHENTICATED"
	CodeForbidden               Code = "FORBIDDEN"
	CodeNotFound                Code = "NOT_FOUND"
	CodeBadUserInput            Code = "BAD_USER_INPUT"
	CodeParseFailed             Code = "GRAPHQL_PARSE_FAILED"
	CodeValidationFailed        Code = "GRAPHQL_VALIDATION_FAILED"
	CodeCostLimitExceeded       Code = "COST_LIMIT_EXCEEDED"
	CodeRateLimited             Code = "RATE_LIMITED"
	CodePersistedQueryNotFound  Code = "PERSISTED_QUERY_NOT_FOUND"
	CodePersistedQueryNotInList Code = "PERSISTED_QUERY_NOT_IN_LIST"
	CodeConflict                Code = "CONFLICT"
	CodeUnavailable             Code = "UNAVAILABLE"
	CodeInternal                Code = "INTERNAL_SERVER_ERROR"
	// CodeIntrospectionDisabled refuses __schema and __type where
	// introspection is off (production).
	CodeIntrospectionDisabled Code = "INTROSPECTION_DISABLED"
)

// Error is an error a client may see: a code and a message safe to show.
// Every other error is treated as internal and masked.
type Error struct {
	Code    Code
	Message string
	// Extensions are added to the error's extensions next to the code.
	Extensions map[string]any
}

func (e *Error) Error() string { return e.Message }

// Errorf returns a client-visible error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the client-visible error inside err, if there is one.
// Privacy denials of the data layer become NOT_FOUND when the target is not
// visible to the viewer (so writes cannot probe for objects) and FORBIDDEN
// otherwise; they are never internal errors.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	switch {
	case errors.Is(err, rule.ErrNotFound):
		return errNotFound, true
	case errors.Is(err, privacy.Deny):
		return errForbidden, true
	}
	return nil, false
}

var (
	errNotFound  = &Error{Code: CodeNotFound, Message: "not found, or not visible to you"}
	errForbidden = &Error{Code: CodeForbidden, Message: "your role in this organization does not allow this"}
)

// errNotAPerson refuses what only a person may do to a request made with
// an API key, which acts for a service account.
var errNotAPerson = &Error{Code: CodeForbidden, Message: "an API key acts for no person; sign in as a user to do this"}

// errUnauthenticated is returned by every write made without a valid
// access token.
var errUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "sign in first: send a valid access token as `Authorization: Bearer <token>`"}
