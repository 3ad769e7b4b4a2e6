package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// inOrder names the list marshalers whose items are marshaled in order: the
// types whose edges the loaders fetch for all peers at once, and labels,
// whose only edge (their organization) is the same for a whole list and
// read once.
var inOrder = regexp.MustCompile(`^func \(ec \*executionContext\) marshal[NO](Issue|Comment|Project|Label)(Edge)?2ᚕ`)

var (
	newDeferred = "deferred := graphql.NewDeferredGroup(ctx)"
	// What every object's marshaler calls instead.
	ownDeferred = "deferred := deferredGroup(ctx, fields)"
	sliceCall   = "graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {"
	// The marshaler of the events a subscription field delivers.
	eventStream = regexp.MustCompile(`(?m)^(\t\tfunc\(ctx context\.Context, selections ast\.SelectionSet, v \*model\.Event\) graphql\.Marshaler \{\n)\t\t\treturn (ec\.marshalNEvent2\S+\(ctx, selections, v\))\n`)
	// The id case of an object marshaler, as gqlgen writes it.
	idCase = regexp.MustCompile(`(?m)^(\t\tcase "id":\n)\t\t\tout\.ResolveConcurrently\(ec\.OperationContext, &deferred, i,\n\t\t\t\ttrue, (true|false),\n\t\t\t\tfunc\(ctx context\.Context\) graphql\.Marshaler \{\n(\t\t\t\t\treturn ec\._\w+_id\(ctx, field, obj\)\n)\t\t\t\t\}\)\n`)
	// The case of a list read through peer groups (an issue's comments and
	// labels, a project's issues), and of a to-one user edge (an issue's
	// author and assignee, a comment's author), as gqlgen writes it.
	listCase     = regexp.MustCompile(`(?m)^(\t\tcase "(?:comments|labels|issues)":\n)\t\t\tout\.ResolveConcurrently\(ec\.OperationContext, &deferred, i,\n\t\t\t\ttrue, (true|false),\n\t\t\t\tfunc\(ctx context\.Context\) graphql\.Marshaler \{\n(\t\t\t\t\treturn ec\._(Issue|Project)_(comments|labels|issues)\(ctx, field, obj\)\n)\t\t\t\t\}\)\n`)
	userEdgeCase = regexp.MustCompile(`(?m)^(\t\tcase "(?:author|assignee)":\n)\t\t\tout\.ResolveConcurrently\(ec\.OperationContext, &deferred, i,\n\t\t\t\ttrue, (true|false),\n\t\t\t\tfunc\(ctx context\.Context\) graphql\.Marshaler \{\n(\t\t\t\t\treturn ec\._(Issue|Comment)_(author|assignee)\(ctx, field, obj\)\n)\t\t\t\t\}\)\n`)
)

// The end of an object's marshaler, which returns its FieldSet.
var objectReturn = regexp.MustCompile(`(?m)^(\t\tec\.ProcessDeferredGroup\(deferred\)\n\t\}\n\n)\treturn out\n\}\n`)

// A plain leaf field: its value read from the object's struct field, no
// resolver, no directive. Group 1 is the function's first line, 2 the
// value, 3 its marshaler.
var plainLeaf = regexp.MustCompile(`(?m)^(func \(ec \*executionContext\) _\w+\(ctx context\.Context, field graphql\.CollectedField, obj \*[\w.]+\) \(ret graphql\.Marshaler\) \{\n)` +
	`\treturn graphql\.ResolveField\(\n\t\tctx,\n\t\tec\.OperationContext,\n\t\tfield,\n` +
	`\t\tfunc\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{\n\t\t\treturn ec\.fieldContext_\w+\(ctx, field\)\n\t\t\},\n` +
	`\t\tfunc\(ctx context\.Context\) \(any, error\) \{\n\t\t\treturn (obj\.\w+), nil\n\t\t\},\n` +
	`\t\tnil,\n` +
	`\t\tfunc\(ctx context\.Context, selections ast\.SelectionSet, v [^\n]+\) graphql\.Marshaler \{\n\t\t\treturn ec\.(marshal[^\s(]+)\(ctx, selections, v\)\n\t\t\},\n` +
	`\t\ttrue,\n\t\t(?:true|false),\n\t\)\n\}\n`)

// A marshaler of a leaf that reports nothing and cannot fail: a string,
// int, boolean, ID or enum value (never null), or a nullable string or ID
// (null for nil, which is allowed). Group 1 is its name.
var quietMarshaler = regexp.MustCompile(`(?m)^func \(ec \*executionContext\) (marshal[^\s(]+)\(ctx context\.Context, sel ast\.SelectionSet, v \*?[\w.]+\) graphql\.Marshaler \{\n(?:` +
	`\t_ = sel\n\tres := graphql\.(?:Marshal(?:String|Int|Boolean|ID)\(v\)|MarshalString\(marshalN[^\s\[]+\[v\]\))\n\tif res == graphql\.Null \{\n\t\tgraphql\.AddInvalidNullFromMarshaler\(ctx, "\w+!"\)\n\t\}\n\treturn res\n` +
	`|\tif v == nil \{\n\t\treturn graphql\.Null\n\t\}\n\t_ = sel\n\t_ = ctx\n\tres := graphql\.Marshal(?:String|ID)\(\*v\)\n\treturn res\n` +
	`)\}\n`)

// userEdges and lists are how many cases userEdgeCase and listCase must
// match: Issue.author, Issue.assignee and Comment.author; Issue.comments,
// Issue.labels and Project.issues.
const userEdges, lists = 3, 3

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: execpatch graph/generated.go")
		os.Exit(2)
	}
	if err := patch(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "execpatch:", err)
		os.Exit(1)
	}
}

func patch(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	src := string(b)
	if !strings.Contains(src, newDeferred) {
		return fmt.Errorf("%s: no %q: not gqlgen's output, or already patched", path, newDeferred)
	}
	src = strings.ReplaceAll(src, newDeferred, ownDeferred)
	objects := strings.Count(src, ownDeferred)

	ids := idCase.FindAllStringIndex(src, -1)
	if len(ids) == 0 {
		return fmt.Errorf("%s: no id field case matched", path)
	}
	src = idCase.ReplaceAllString(src, "${1}\t\t\tresolveNow(ctx, ec.OperationContext, out, &deferred, i, field, ${2},\n\t\t\t\tfunc(ctx context.Context) graphql.Marshaler {\n${3}\t\t\t\t})\n")

	if n := len(userEdgeCase.FindAllStringIndex(src, -1)); n != userEdges {
		return fmt.Errorf("%s: %d user edge cases matched, want %d", path, n, userEdges)
	}
	src = userEdgeCase.ReplaceAllString(src, "${1}\t\t\tresolveWhenLoaded(ctx, ec.OperationContext, out, &deferred, i, field, ${2},\n\t\t\t\tpeerEdgeLoaded(ctx, \"${4}\", obj.ID, \"${4}.${5}\", field),\n\t\t\t\tfunc(ctx context.Context) graphql.Marshaler {\n${3}\t\t\t\t})\n")

	if n := len(listCase.FindAllStringIndex(src, -1)); n != lists {
		return fmt.Errorf("%s: %d list cases matched, want %d", path, n, lists)
	}
	src = listCase.ReplaceAllString(src, "${1}\t\t\tresolveWhenLoaded(ctx, ec.OperationContext, out, &deferred, i, field, ${2},\n\t\t\t\tlistLoaded(ctx, \"${4}\", obj.ID, \"${4}.${5}\", field.Field),\n\t\t\t\tfunc(ctx context.Context) graphql.Marshaler {\n${3}\t\t\t\t})\n")

	if n := len(eventStream.FindAllStringIndex(src, -1)); n != 2 {
		return fmt.Errorf("%s: %d subscription event marshalers matched, want 2 (projectEvents, issueEvents)", path, n)
	}
	src = eventStream.ReplaceAllString(src, "${1}\t\t\treturn shareEvent(ctx, v, func() graphql.Marshaler {\n\t\t\t\treturn ${2}\n\t\t\t})\n")

	if n := len(objectReturn.FindAllStringIndex(src, -1)); n != objects {
		return fmt.Errorf("%s: %d object marshalers end as expected, of %d", path, n, objects)
	}
	src = objectReturn.ReplaceAllString(src, "${1}\treturn objectOf(out, fields, deferred)\n}\n")

	quiet := map[string]bool{}
	for _, m := range quietMarshaler.FindAllStringSubmatch(src, -1) {
		quiet[m[1]] = true
	}
	plain := 0
	src = plainLeaf.ReplaceAllStringFunc(src, func(f string) string {
		m := plainLeaf.FindStringSubmatch(f)
		if !quiet[m[3]] {
			return f
		}
		plain++
		return m[1] + "\treturn ec." + m[3] + "(ctx, field.Selections, " + m[2] + ")\n}\n"
	})
	if plain == 0 {
		return fmt.Errorf("%s: no plain leaf field matched", path)
	}

	lines := strings.SplitAfter(src, "\n")
	inOrderLists, inList := 0, false
	for i, l := range lines {
		if strings.HasPrefix(l, "func ") {
			inList = inOrder.MatchString(l)
		}
		if inList && strings.Contains(l, sliceCall) {
			lines[i] = strings.Replace(l, sliceCall, "marshalInOrder(ctx, len(v), func(ctx context.Context, i int) graphql.Marshaler {", 1)
			inOrderLists++
		}
	}
	if inOrderLists == 0 {
		return fmt.Errorf("%s: no list of issues, comments, projects or labels matched", path)
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644)
}
