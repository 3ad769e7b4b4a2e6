package graphiql

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed dist
var dist embed.FS

// AssetPrefix is the path under which the page's script, style sheet and
// fonts are served.
const AssetPrefix = "/graphiql/"

// ContentSecurityPolicy lets the page load and connect to its own origin
// only: its scripts, styles and fonts are all served from AssetPrefix, and
// it talks to /graphql over HTTP and WebSocket.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Page serves the GraphiQL page.
func Page() http.Handler {
	page, err := dist.ReadFile("dist/index.html")
	if err != nil {
		panic("graphiql: dist/index.html is not embedded: run make graphiql") // a build without the bundle is broken
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	})
}

// Assets serves the page's files under AssetPrefix.
func Assets() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic("graphiql: " + err.Error())
	}
	files := http.StripPrefix(AssetPrefix, http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, AssetPrefix)
		if name == "" || strings.Contains(name, "/") || name == "index.html" {
			http.NotFound(w, r)
			return
		}
		// Embedded files carry no modification time: revalidate each time
		// rather than keep a stale bundle after an upgrade.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// SourcesHash is the hash build.mjs recorded of the sources dist/ was
// built from (web/SOURCES.sha256 format: hex and a newline).
func SourcesHash() string {
	b, _ := dist.ReadFile("dist/SOURCES.sha256")
	return strings.TrimSpace(string(b))
}
