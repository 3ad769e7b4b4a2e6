// Command issuegraph serves the Issuegraph GraphQL API.
//
//	issuegraph [serve]   run the API (default)
//	issuegraph migrate   apply pending database migrations
//	issuegraph seed      load the demo organization into an empty database
//	issuegraph persisted import FILE --client NAME
//	                     register a client's operation manifest as trusted documents
//	issuegraph schema [-o FILE | diff OLD.graphql]
//	                     print the GraphQL schema, or the changes since OLD that break clients
//	issuegraph seed --scale N   generate a large organization (benchmarks)
//	issuegraph healthcheck [URL]  exit 0 when the local instance's /readyz answers 200
//	                     (container health checks: the image has no curl)
//	issuegraph version   print the version and the Go toolchain it was built with
//
// Every setting comes from the environment; see the README.
package main
