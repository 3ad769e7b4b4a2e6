package store

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// Cache adapts a Store to graphql.Cache[string], the interface gqlgen's
// extension.AutomaticPersistedQuery takes.
type Cache struct {
	store   Store
	onError func(context.Context, error)
}

var _ graphql.Cache[string] = (*Cache)(nil)

// NewCache returns a Cache over store. The gqlgen interface cannot return errors,
// so they go to onError (nil drops them): a failed Get reads as a miss, which makes
// the client resend the full query, and a failed Add leaves the query unstored;
// either way the request itself still runs.
func NewCache(store Store, onError func(context.Context, error)) *Cache {
	if onError == nil {
		onError = func(context.Context, error) {}
	}
	return &Cache{store: store, onError: onError}
}

// Get returns the query stored under key, reporting a failure as a miss.
func (c *Cache) Get(ctx context.Context, key string) (string, bool) {
	query, ok, err := c.store.Get(ctx, key)
	if err != nil {
		c.onError(ctx, err)
		return "", false
	}
	return query, ok
}

// Add stores value under key, reporting a failure to onError.
func (c *Cache) Add(ctx context.Context, key, value string) {
	if err := c.store.Add(ctx, key, value); err != nil {
		c.onError(ctx, err)
	}
}
