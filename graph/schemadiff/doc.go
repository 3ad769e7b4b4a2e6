// Package schemadiff prints a GraphQL schema as SDL and finds the changes
// between two versions that break clients written against the older one.
package schemadiff
