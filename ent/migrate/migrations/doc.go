// Package migrations embeds the versioned SQL migrations (Atlas directory
// format: one file per version plus atlas.sum) so the binary can apply them
// without the files on disk.
package migrations
