// Package viewer carries who is making a request through a context: the
// HTTP layer puts a Viewer in, resolvers and ent privacy rules read it.
package viewer
