package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/issuegraph/issuegraph/ent/database"
)

// healthz answers as long as the process serves HTTP: a liveness probe.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

// readyz answers 200 only when the database is reachable and has every
// migration this binary knows: a readiness probe, so a load balancer sends
// no traffic to an instance that cannot serve it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	if err := s.db.SQL.PingContext(ctx); err != nil {
		checks["database"] = "unreachable"
		status = http.StatusServiceUnavailable
	} else if pending, err := database.Pending(ctx, s.db.SQL); err != nil {
		checks["database"] = "migrations unknown"
		status = http.StatusServiceUnavailable
	} else if len(pending) > 0 {
		checks["database"] = "migrations pending"
		status = http.StatusServiceUnavailable
	} else {
		checks["database"] = "ok"
	}
	word := "ready"
	if status != http.StatusOK {
		word = "not ready"
		// Probes come every few seconds from every load balancer: while
		// the database is away, one line a second says so.
		if ok, n := s.throttle.allow("not ready"); ok {
			s.log.WarnContext(ctx, "not ready", "checks", checks, "occurrences", n)
		}
	}
	writeJSON(w, status, map[string]any{"status": word, "checks": checks})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
