// Package databasetest gives tests a fresh, migrated PostgreSQL database.
// The first call in a test run migrates a template database (named after a
// hash of the migrations, so a changed migration gets a new template);
// every call then clones it, which takes a few tens of milliseconds.
package databasetest
