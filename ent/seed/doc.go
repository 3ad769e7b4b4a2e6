// Package seed fills a database with data: a small demo organization for
// development, loaded when the database is empty.
package seed
