package server

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/wstransport"
	"github.com/issuegraph/issuegraph/subscriptions"
	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

// streamBuffer is how many messages the broker buffers for the instance's
// subscription to one stream while the feed hands the previous ones out.
const streamBuffer = 1024

// realtime is an instance's real-time side: the broker, the outbox relay,
// the feed subscriptions follow, and the WebSocket and SSE transports.
type realtime struct {
	cfg    config.Config
	log    *slog.Logger
	tokens tokenVerifier
	broker broker.Broker
	feed   *subscriptions.Feed
	relay  *subscriptions.Relay
	// ws is the WebSocket transport (server/wstransport).
	ws *wstransport.Transport
	// streams are the open SSE streams, by credential, for revocation
	// (server/revocation.go).
	streams streamWatch
	// connections counts open WebSockets by subprotocol.
	connections metric.Int64UpDownCounter

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newRealtime(cfg config.Config, db *database.DB, rdb *redis.Client, tokens tokenVerifier, log *slog.Logger, connections metric.Int64UpDownCounter) *realtime {
	// The broker holds one subscription per stream for the whole instance
	// (the feed fans out to each subscriber's own bounded queue,
	// ISSUEGRAPH_SUBSCRIPTION_BUFFER): a burst larger than its buffer would
	// send every local subscriber of the stream to the log at once.
	opts := broker.Options{BufferSize: max(streamBuffer, cfg.SubscriptionBuffer), Prefix: cfg.RedisPrefix + "events:", Logger: log}
	var b broker.Broker
	if rdb != nil {
		b = broker.NewRedis(rdb, opts)
	} else {
		b = broker.NewMemory(opts)
	}
	rt := &realtime{
		cfg: cfg, log: log, tokens: tokens, broker: b,
		feed: subscriptions.NewFeed(db.SQL, b, subscriptions.FeedOptions{Retention: cfg.EventRetention, BufferSize: cfg.SubscriptionBuffer, Logger: log}),
		relay: subscriptions.NewRelay(db.SQL, b, subscriptions.RelayOptions{
			DatabaseURL: cfg.DatabaseURL, PollInterval: cfg.RelayPollInterval, Retention: cfg.EventRetention, Logger: log,
		}),
		connections: connections,
	}
	rt.ws = rt.newWSTransport()
	return rt
}

// resolverOptions lets the resolvers follow streams.
func (rt *realtime) resolverOptions() []graph.Option {
	return []graph.Option{graph.WithEvents(rt.feed, rt.cfg.SubscriptionSendTimeout)}
}

// addTransports adds the WebSocket and SSE transports; it must run before
// POST is added, which would otherwise take SSE requests.
func (rt *realtime) addTransports(srv *handler.Server) {
	srv.AddTransport(sseTransport{SSE: transport.SSE{KeepAlivePingInterval: rt.cfg.WSKeepAlive}, streams: &rt.streams})
	srv.AddTransport(rt.ws)
}

// initConnection authenticates a WebSocket from its connection_init
// payload ({"Authorization": "Bearer <access token>"}), the same tokens as
// HTTP. Without one the connection keeps the viewer of the upgrade
// request; a bad one closes it with 4403. The transport runs it on a
// short-lived goroutine and recovers a panic in it.
func (rt *realtime) initConnection(ctx context.Context, payload map[string]any) (context.Context, error) {
	ctx, _, err := rt.authenticateConnection(ctx, transport.InitPayload(payload))
	return ctx, err
}

// authenticateConnection is initConnection's work.
func (rt *realtime) authenticateConnection(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	auth := payload.Authorization()
	if auth == "" {
		return ctx, nil, nil
	}
	forbidden := func() (context.Context, *transport.InitPayload, error) {
		return ctx, nil, errors.New("Forbidden: the access token is invalid or expired")
	}
	scheme, token, ok := cutBearer(auth)
	if !ok || scheme == "" {
		return forbidden()
	}
	userID, session, err := rt.tokens.Access(token)
	if err != nil {
		return forbidden()
	}
	if ri := infoFrom(ctx); ri != nil {
		ri.viewerID = userID
	}
	return viewer.NewContext(ctx, viewer.Viewer{UserID: userID, Session: session}), nil, nil
}

// start runs the relay and the feed's watcher until stop is called.
func (rt *realtime) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	rt.wg.Add(3)
	go func() { defer rt.wg.Done(); rt.relay.Run(ctx) }()
	go func() { defer rt.wg.Done(); rt.feed.Run(ctx) }()
	go func() { defer rt.wg.Done(); rt.ws.KeepAlive(ctx, rt.cfg.WSKeepAlive) }()
	return func() {
		cancel()
		rt.wg.Wait()
		if err := rt.broker.Close(); err != nil {
			rt.log.Warn("closing broker", "error", err)
		}
	}
}

// goingAway closes every WebSocket with 1001, so clients reconnect to
// another instance and resume from their cursors, and only then closes the
// broker, which ends the subscriptions (and SSE streams, which
// http.Server.Shutdown would wait for): no WebSocket client is told a
// subscription ended. Mutations still in flight keep working: their events
// wait in the log. ctx bounds the wait for the close handshakes.
func (rt *realtime) goingAway(ctx context.Context) {
	rt.ws.GoingAway(ctx)
	if err := rt.broker.Close(); err != nil {
		rt.log.Warn("closing broker", "error", err)
	}
}

// originHosts turns allowed origins (http://host:port) into the host
// patterns coder/websocket matches the Origin header against. Requests
// without an Origin header (non-browser clients) are not affected.
func originHosts(origins []string) []string {
	var out []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// cutBearer splits "Bearer <token>" as the Authorization header does.
func cutBearer(h string) (scheme, token string, ok bool) {
	scheme, token, ok = strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(token) > 4096 {
		return "", "", false
	}
	return scheme, strings.TrimSpace(token), true
}

// ActiveSubscriptions is the number of the instance's subscribers that
// follow their stream live (tests wait for it; metrics report it).
func (s *Server) ActiveSubscriptions() int { return s.rt.feed.Active() }
