package fleet

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// WaitHead waits until every event of the project is positioned and
// published and returns the last position.
func WaitHead(tb testing.TB, db *sql.DB, projectDBID int64, timeout time.Duration) int64 {
	tb.Helper()
	var head int64
	require.Eventually(tb, func() bool {
		h, ok, err := HeadPosition(db, projectDBID)
		require.NoError(tb, err)
		head = h
		return ok
	}, timeout, 50*time.Millisecond)
	return head
}

// HeadPosition is the last position of the project's events once every
// one of them has a position and is published; ok is false while some
// are not.
func HeadPosition(db *sql.DB, projectDBID int64) (head int64, ok bool, err error) {
	var pending int
	if err := db.QueryRow(`SELECT count(*) FROM events WHERE project_id = $1 AND (position IS NULL OR NOT published)`, projectDBID).Scan(&pending); err != nil {
		return 0, false, fmt.Errorf("counting pending events: %w", err)
	}
	if pending > 0 {
		return 0, false, nil
	}
	if err := db.QueryRow(`SELECT coalesce(max(position), 0) FROM events WHERE project_id = $1`, projectDBID).Scan(&head); err != nil {
		return 0, false, fmt.Errorf("reading the head position: %w", err)
	}
	return head, true, nil
}

// PositionsAfter lists the positions of the project's events after after.
func PositionsAfter(db *sql.DB, projectDBID, after int64) ([]int64, error) {
	rows, err := db.Query(`SELECT position FROM events WHERE project_id = $1 AND position > $2 ORDER BY position`, projectDBID, after)
	if err != nil {
		return nil, fmt.Errorf("listing positions: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("listing positions: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Equal reports whether a and b hold the same positions in the same order.
func Equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Compare counts the wanted positions missing from got, the extra
// deliveries of positions got holds more than once, and the deliveries
// that came after a later position (out of order).
func Compare(got, want []int64) (lost, dup, reordered int) {
	seen := map[int64]int{}
	for i, p := range got {
		seen[p]++
		if i > 0 && p < got[i-1] {
			reordered++
		}
	}
	for _, p := range want {
		if seen[p] == 0 {
			lost++
		}
	}
	for _, n := range seen {
		if n > 1 {
			dup += n - 1
		}
	}
	return lost, dup, reordered
}
