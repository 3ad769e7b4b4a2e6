// Package limits is abuse control for GraphQL operations: it measures an
// operation before it runs — its cost, read from the IBM cost directives
// (@cost, @listSize) declared in the schema, its shape (depth, aliases,
// root fields, directives) and its width — refuses one over a limit,
// charges its cost to the viewer's bucket (the bucket subpackage), refunds
// what it did not use, and bounds the work an instance executes at once
// (Admission). The Extension plugs into gqlgen; its middleware (Meter-
// Requests, MeterViewer) gives each HTTP request its meter and writes the
// RateLimit headers and the status a refusal chose.
package limits
