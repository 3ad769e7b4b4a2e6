package graph

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/loaders"
	"github.com/issuegraph/issuegraph/subscriptions/delivery"
)

// The generated executor (generated.go) is rewritten by graph/execpatch as
// the last step of go generate, so that it calls the helpers below
// instead of gqlgen's general-purpose ones where a cheaper way gives the
// same response byte for byte. TestPatchedExecutorMatchesStock compares
// the two executors' responses over a corpus of operations.

// deferredGroup replaces graphql.NewDeferredGroup in every object's
// marshaler. The stock call builds the object's whole response path for
// @defer bookkeeping on every object of every response; an object none of
// whose selected fields is deferred never reads that group, so it gets an
// empty one: ResolveConcurrently only touches the group for a deferred
// field, and an empty Defers map is never processed.
func deferredGroup(ctx context.Context, fields []graphql.CollectedField) graphql.DeferredGroup {
	for i := range fields {
		if fields[i].IsDeferred() {
			return graphql.NewDeferredGroup(ctx)
		}
	}
	return graphql.DeferredGroup{}
}

// resolveNow replaces out.ResolveConcurrently for fields whose resolver
// only computes from the object in hand (every type's id: a global ID
// encoded from the row's key), which are not worth a goroutine each. It
// keeps the stock behaviour exactly: a deferred field is still scheduled
// as @defer requires, a panic is reported and resolves to null, and the
// invalid result is counted against the object as ResolveConcurrently
// counts it.
func resolveNow(ctx context.Context, oc *graphql.OperationContext, out *graphql.FieldSet, deferred *graphql.DeferredGroup,
	i int, field graphql.CollectedField, nonNull bool, resolve func(context.Context) graphql.Marshaler,
) {
	if field.IsDeferred() {
		out.ResolveConcurrently(oc, deferred, i, true, nonNull, resolve)
		return
	}
	v := recoverToNull(ctx, oc, resolve)
	out.Values[i] = v
	if (nonNull && v == graphql.Null) || (!nonNull && v == graphql.RequiredNull) {
		atomic.AddUint32(&out.Invalids, 1)
	}
}

// resolveWhenLoaded replaces out.ResolveConcurrently for the edges read
// through peer groups: the to-one user edges (Issue.author,
// Issue.assignee, Comment.author) and the lists of issues and projects
// (Issue.comments, Issue.labels, Project.issues). A goroutine per such
// field exists so that the first object's resolver can start its group's
// batch while its siblings wait for it; once the group's rows are loaded
// (read with the page that listed the objects, or by the first sibling's
// batch), the resolver returns without waiting on anything, and runs on the
// object's own goroutine as resolveNow does. loaded must report exactly
// that (peerEdgeLoaded, listLoaded).
func resolveWhenLoaded(ctx context.Context, oc *graphql.OperationContext, out *graphql.FieldSet, deferred *graphql.DeferredGroup,
	i int, field graphql.CollectedField, nonNull bool, loaded bool, resolve func(context.Context) graphql.Marshaler,
) {
	if !loaded {
		out.ResolveConcurrently(oc, deferred, i, true, nonNull, resolve)
		return
	}
	resolveNow(ctx, oc, out, deferred, i, field, nonNull, resolve)
}

// peerEdgeLoaded reports whether the resolver of edge ("Comment.author")
// for the object of type typ and id finds its answer loaded: the object has
// a peer group (the resolver then asks the group, see groupUser) and the
// group's batch for the edge selected as field has finished (userBatch).
func peerEdgeLoaded(ctx context.Context, typ string, id int64, edge string, field graphql.CollectedField) bool {
	lds := loaders.FromContext(ctx)
	if lds == nil {
		return false
	}
	g := lds.Peers.Of(typ, id)
	if g == nil {
		return false
	}
	name, ok := knownUserBatch(lds, edge, field.Field)
	if !ok {
		name = userBatch(lds, edge, selection{op: graphql.GetOperationContext(ctx), field: field.Field, sets: field.Selections})
	}
	return g.Loaded(name)
}

// listLoaded reports whether the resolver of the list field list
// ("Issue.comments", selected as field) for the object of type typ and id
// finds its answer without waiting: the field's list load exists (its first
// parent made it) and either answers at once (a bad argument, only
// totalCount asked for) or the object's peer group has its page loaded.
func listLoaded(ctx context.Context, typ string, id int64, list string, field *ast.Field) bool {
	lds := loaders.FromContext(ctx)
	if lds == nil {
		return false
	}
	f, ok := loaders.Kept[interface {
		loadedIn(*loaders.PeerGroup, int64) bool
	}](lds, fieldKey{list, field})
	return ok && f.loadedIn(lds.Peers.Of(typ, id), id)
}

func recoverToNull(ctx context.Context, oc *graphql.OperationContext, resolve func(context.Context) graphql.Marshaler) (v graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			oc.Error(ctx, oc.Recover(ctx, r))
			v = graphql.Null
		}
	}()
	return resolve(ctx)
}

// marshalInOrder replaces graphql.MarshalSliceConcurrently for the lists
// whose items are issues, comments, projects and labels (or their edges),
// whose edges never make one item wait for another's loader call. The stock
// marshaler starts a goroutine per item so that the items' loader calls
// meet in one batch. These items do not need it: objects loaded together
// are peers (loaders.Peers), so the first item's resolvers ask the loaders
// for the same edge of every item at once, and the rest find their rows
// loaded; the labels of a list share their organization, read once. Marshaled one after another, the items cost the same statements
// and no goroutine each. Each item still gets its own field context with
// its index, and a panic in one is reported and nulls that item only, as
// in the stock marshaler.
func marshalInOrder(ctx context.Context, n int, marshal func(context.Context, int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, n)
	for i := range n {
		fc := &graphql.FieldContext{Index: &i}
		childCtx := graphql.WithFieldContext(ctx, fc)
		ret[i] = marshalItem(childCtx, i, marshal)
	}
	return ret
}

func marshalItem(ctx context.Context, i int, marshal func(context.Context, int) graphql.Marshaler) (v graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			v = graphql.Null
		}
	}()
	return marshal(ctx, i)
}

// shareEvent replaces the marshaling of each event a subscription field
// delivers (marshal). A viewer's subscriptions that run the same operation
// with the same variables are delivered the same Event object
// (subscriptions/delivery shares a viewer's loads) and would resolve it to
// the same bytes, each through the whole executor: the first resolves it,
// the others write its bytes (model.Event.SharedResponse). Every
// subscription still runs every extension around its own response. An
// event is not shared when its resolution reported an error (the others
// resolve it themselves and get their own errors), nor when its span is
// recorded (its resolver spans and statements belong under it).
func shareEvent(ctx context.Context, v *model.Event, marshal func() graphql.Marshaler) graphql.Marshaler {
	key, ok := delivery.ResponseKeyOf(ctx)
	if !ok || v == nil || trace.SpanFromContext(ctx).IsRecording() {
		return marshal()
	}
	if data, ok := v.SharedResponse(key); ok {
		return rawJSON(data)
	}
	errs := len(graphql.GetErrors(ctx))
	m := marshal()
	if len(graphql.GetErrors(ctx)) != errs {
		return m
	}
	var buf bytes.Buffer
	m.MarshalGQL(&buf)
	return rawJSON(v.ShareResponse(key, buf.Bytes()))
}

// rawJSON writes data, JSON already.
func rawJSON(data []byte) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = w.Write(data) })
}

// objectOf replaces the *graphql.FieldSet every object's marshaler returns.
// The stock FieldSet writes itself through an iterator that copies each
// field (a few hundred bytes) to the heap and a map of the aliases written
// so far, for every object of every response. An object with a deferred
// field still returns the FieldSet, which @defer's views share.
func objectOf(out *graphql.FieldSet, fields []graphql.CollectedField, deferred graphql.DeferredGroup) graphql.Marshaler {
	if len(deferred.Defers) > 0 {
		return out
	}
	return objectValues{fields: fields, values: out.Values}
}

// objectValues writes an object's fields as the stock FieldSet does: in
// order, each alias once (the first occurrence wins).
type objectValues struct {
	fields []graphql.CollectedField
	values []graphql.Marshaler
}

// manyFields is the field count above which repeated aliases are found
// through a map rather than by looking back.
const manyFields = 16

func (o objectValues) MarshalGQL(w io.Writer) {
	var written map[string]bool
	if len(o.fields) > manyFields {
		written = make(map[string]bool, len(o.fields))
	}
	_, _ = io.WriteString(w, "{")
	for i := range o.fields {
		alias := o.fields[i].Alias
		if written != nil {
			if written[alias] {
				continue
			}
			written[alias] = true
		} else if aliasBefore(o.fields[:i], alias) {
			continue
		}
		if i > 0 {
			_, _ = io.WriteString(w, ",")
		}
		writeName(w, alias)
		_, _ = io.WriteString(w, ":")
		o.values[i].MarshalGQL(w)
	}
	_, _ = io.WriteString(w, "}")
}

func aliasBefore(fields []graphql.CollectedField, alias string) bool {
	for i := range fields {
		if fields[i].Alias == alias {
			return true
		}
	}
	return false
}

// writeName writes a response key as a JSON string. Keys are GraphQL names
// (letters, digits, underscores), which need no escaping; anything else is
// quoted as the stock marshaler quotes it.
func writeName(w io.Writer, name string) {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '_' && (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			graphql.MarshalString(name).MarshalGQL(w)
			return
		}
	}
	_, _ = io.WriteString(w, `"`)
	_, _ = io.WriteString(w, name)
	_, _ = io.WriteString(w, `"`)
}
