package model_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/issuegraph/issuegraph/graph/model"
)

// TestSharedResponsesAreKeptByKey: a response kept for a key is returned
// for that key only, the first kept wins, and the event that ends a
// subscription keeps none.
func TestSharedResponsesAreKeptByKey(t *testing.T) {
	t.Parallel()
	type key struct{ user int64 }
	ev := model.NewEvent("c", "issue.created", nil, time.Now(), nil, nil)
	_, ok := ev.SharedResponse(key{1})
	assert.False(t, ok)
	assert.Equal(t, []byte("one"), ev.ShareResponse(key{1}, []byte("one")))
	assert.Equal(t, []byte("one"), ev.ShareResponse(key{1}, []byte("again")), "the first kept wins")
	got, ok := ev.SharedResponse(key{1})
	assert.True(t, ok)
	assert.Equal(t, []byte("one"), got)
	_, ok = ev.SharedResponse(key{2})
	assert.False(t, ok, "another key")

	end := model.EndEvent(errors.New("forbidden"))
	assert.Equal(t, []byte("x"), end.ShareResponse(key{1}, []byte("x")))
	_, ok = end.SharedResponse(key{1})
	assert.False(t, ok, "an end event is never shared")
}
