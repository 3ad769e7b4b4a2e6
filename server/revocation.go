package server

import (
	"context"
	"time"
)

// Session revocation (docs/reliability.md): logOut, refresh-token reuse and
// revokeAPIKey stop the credential on every instance within a second. HTTP
// requests are refused with 401 by the token check (auth.Service.Access,
// auth.Service.VerifyAPIKey); open WebSockets and SSE streams are ended by
// the real-time side (realtime.Realtime.CloseRevoked).

// startRevocations loads the instance's copy of the revocations, giving
// PostgreSQL a short while (the instance starts without it rather than
// not at all; the poll retries every second), and keeps it current until
// stop is called.
func (s *Server) startRevocations(ctx context.Context) (stop func()) {
	loadCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := s.revocations.Load(loadCtx); err != nil {
		s.log.Warn("reading revocations at start; retrying every second", "error", err)
	}
	cancel()
	ctx, cancel = context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.revocations.Run(ctx) }()
	return func() { cancel(); <-done }
}
