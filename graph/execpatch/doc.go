// Command execpatch rewrites gqlgen's generated executor (graph/generated.go)
// after gqlgen writes it, as the last step of go generate, so that it calls
// graph/executor.go's cheaper equivalents of gqlgen calls:
//
//   - every object's graphql.NewDeferredGroup(ctx) becomes
//     deferredGroup(ctx, fields), which builds the @defer bookkeeping (the
//     object's whole response path) only when a selected field is deferred;
//   - the id field of every type resolves on the object's own goroutine
//     (resolveNow) instead of a goroutine of its own;
//   - an issue's author, assignee, comments and labels, a comment's author
//     and a project's issues resolve on the object's own goroutine when its
//     peer group has them loaded already (resolveWhenLoaded), and on a
//     goroutine of their own otherwise;
//   - lists of issues, comments, projects and labels and their edges are
//     marshaled in order (marshalInOrder) instead of a goroutine per item;
//   - every object's marshaler returns objectOf(out, fields, deferred),
//     which writes the object's fields without the stock FieldSet's
//     per-field heap copies and per-object map of written keys (the
//     FieldSet itself when a field is deferred);
//   - a plain leaf field (its value read from a struct field, no resolver,
//     no directive) whose marshaler cannot fail or report (strings, ints,
//     booleans, IDs, enums; nullable strings and IDs) is marshaled
//     directly, without a field context, a context layer and a deferred
//     recover of its own. Field interceptors do not see such fields; the
//     server's only one (resolver spans) passes them by anyway;
//   - each event a subscription field delivers is marshaled through
//     shareEvent, which resolves it once for a viewer's subscriptions
//     running the same operation with the same variables.
//
// The rewrite is textual and strict: each pattern must match the shape
// gqlgen generates, and the command fails when a pattern matches nothing,
// so a gqlgen upgrade that changes its output stops go generate rather than
// leaving a half-patched executor. To drop it (once gqlgen skips the
// deferred path itself, upstream pull request #4341), delete its
// go:generate line in generate.go and regenerate; graph/executor.go's
// helpers then go unused and can be deleted.
package main
