// Package graphiql serves GraphiQL from files embedded in the binary, so it
// works with no internet and loads nothing from another origin. The files
// in dist/ are built from web/ by `make graphiql` (esbuild, with versions
// pinned by web/package-lock.json) and committed: `go generate` does not
// rebuild them, so the generated-code check never depends on npm.
package graphiql
