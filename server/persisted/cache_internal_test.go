package persisted

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestDocumentCacheKeepsTrustedDocuments: arbitrary text cannot evict a
// trusted document's parsed form.
func TestDocumentCacheKeepsTrustedDocuments(t *testing.T) {
	t.Parallel()
	cache := NewDocumentCache(10, 10)
	opCtx := func(trusted bool) context.Context {
		op := &graphql.OperationContext{}
		ctx := graphql.WithOperationContext(context.Background(), op)
		if trusted {
			markTrusted(ctx)
		}
		return ctx
	}
	trustedDoc := &ast.QueryDocument{}
	cache.Add(opCtx(true), "{ viewer { id } }", trustedDoc)
	for i := range 100 {
		cache.Add(opCtx(false), "{ viewer { id } } #"+string(rune('a'+i%26))+string(rune('a'+i/26)), &ast.QueryDocument{})
	}
	got, ok := cache.Get(context.Background(), "{ viewer { id } }")
	assert.True(t, ok)
	assert.Same(t, trustedDoc, got)
	_, ok = cache.Get(context.Background(), "{ viewer { id } } #aa")
	assert.False(t, ok, "the oldest arbitrary text was evicted")
}
