package viewer

import "context"

// Viewer is the authenticated actor of a request.
type Viewer struct {
	// UserID is the signed-in user; zero for anonymous requests and for
	// service accounts.
	UserID int64
	// Session is the sign-in session (refresh-token family) of the access
	// token the user presented; "" when it named none. Revoking it closes
	// the viewer's open subscriptions too.
	Session string
	// APIKey is the service account making the request, if one is.
	APIKey *APIKey
	// System marks internal work (migrations, seeding, the event relay)
	// that acts on behalf of no user.
	System bool
}

// APIKey is a service account: it acts in one organization with one role
// and is no person (it authors nothing and belongs to no organization).
type APIKey struct {
	ID             int64
	OrganizationID int64
	// Role is the key's membership.Role ("ADMIN", "MEMBER" or "VIEWER").
	Role string
}

// Authenticated reports whether a user is signed in.
func (v Viewer) Authenticated() bool { return v.UserID != 0 }

// Actor reports whether anyone is signed in: a user or a service account.
func (v Viewer) Actor() bool { return v.UserID != 0 || v.APIKey != nil }

type ctxKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx; the zero Viewer (anonymous) when
// there is none.
func FromContext(ctx context.Context) Viewer {
	v, _ := ctx.Value(ctxKey{}).(Viewer)
	return v
}

// SystemContext returns ctx acting as the system viewer.
func SystemContext(ctx context.Context) context.Context {
	return NewContext(ctx, Viewer{System: true})
}
