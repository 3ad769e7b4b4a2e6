package realtime

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/ent/database"
	"github.com/issuegraph/issuegraph/ent/viewer"
	"github.com/issuegraph/issuegraph/graph"
	"github.com/issuegraph/issuegraph/server/auth"
	"github.com/issuegraph/issuegraph/server/realtime/wstransport"
	"github.com/issuegraph/issuegraph/subscriptions"
	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

// streamBuffer is how many messages the broker buffers for the instance's
// subscription to one stream while the feed hands the previous ones out.
const streamBuffer = 1024

// Tokens checks a WebSocket's access token.
type Tokens interface {
	Access(token string) (userID int64, session string, err error)
}

var _ Tokens = (*auth.Service)(nil)

// Options are what the real-time side is built from. Every field but
// Redis and Meter is required.
type Options struct {
	Config config.Config
	DB     *database.DB
	// Redis is nil for one instance with an in-process broker.
	Redis  *redis.Client
	Tokens Tokens
	Log    *slog.Logger
	// Meter registers the WebSocket, subscription and relay metrics (nil:
	// none).
	Meter metric.MeterProvider
	// Recover turns a panic in connection_init into an error, as the
	// server's resolvers do.
	Recover graphql.RecoverFunc
	// Authenticated is told the user a WebSocket authenticated as in its
	// connection_init (the server's access line reports it).
	Authenticated func(ctx context.Context, userID int64)
}

// Realtime is an instance's real-time side: the broker, the outbox relay,
// the feed subscriptions follow, and the WebSocket and SSE transports.
type Realtime struct {
	cfg    config.Config
	db     *database.DB
	log    *slog.Logger
	opts   Options
	broker broker.Broker
	feed   *subscriptions.Feed
	relay  *subscriptions.Relay
	// ws is the WebSocket transport (server/realtime/wstransport).
	ws *wstransport.Transport
	// streams are the open SSE streams, by credential, for revocation
	// (revocation.go).
	streams streamWatch
	// connections counts open WebSockets by subprotocol.
	connections metric.Int64UpDownCounter

	wg sync.WaitGroup
}

// New builds the real-time side; nothing runs until Start.
func New(opts Options) *Realtime {
	cfg, log := opts.Config, opts.Log
	if opts.Meter == nil {
		opts.Meter = noop.NewMeterProvider()
	}
	// The broker holds one subscription per stream for the whole instance
	// (the feed fans out to each subscriber's own bounded queue,
	// ISSUEGRAPH_SUBSCRIPTION_BUFFER): a burst larger than its buffer would
	// send every local subscriber of the stream to the log at once.
	bopts := broker.Options{BufferSize: max(streamBuffer, cfg.SubscriptionBuffer), Prefix: cfg.RedisPrefix + "events:", Logger: log}
	var b broker.Broker
	if opts.Redis != nil {
		b = broker.NewRedis(opts.Redis, bopts)
	} else {
		b = broker.NewMemory(bopts)
	}
	rt := &Realtime{
		cfg: cfg, db: opts.DB, log: log, opts: opts, broker: b,
		feed: subscriptions.NewFeed(opts.DB.SQL, b, subscriptions.FeedOptions{Retention: cfg.EventRetention, BufferSize: cfg.SubscriptionBuffer, Logger: log}),
		relay: subscriptions.NewRelay(opts.DB.SQL, b, subscriptions.RelayOptions{
			DatabaseURL: cfg.DatabaseURL, PollInterval: cfg.RelayPollInterval, Retention: cfg.EventRetention, Logger: log,
		}),
		connections: newConnectionCounter(opts.Meter, log),
	}
	rt.ws = rt.newWSTransport()
	if err := rt.observe(opts.Meter); err != nil {
		log.Error("real-time metrics disabled", "error", err)
	}
	return rt
}

// ResolverOptions let the resolvers follow streams.
func (rt *Realtime) ResolverOptions() []graph.Option {
	return []graph.Option{graph.WithEvents(rt.feed, rt.cfg.SubscriptionSendTimeout)}
}

// AddTransports adds the WebSocket and SSE transports; it must run before
// POST is added, which would otherwise take SSE requests.
func (rt *Realtime) AddTransports(srv *handler.Server) {
	srv.AddTransport(sseTransport{SSE: transport.SSE{KeepAlivePingInterval: rt.cfg.WSKeepAlive}, streams: &rt.streams})
	srv.AddTransport(rt.ws)
}

// Active is the number of the instance's subscribers that follow their
// stream live (tests wait for it; metrics report it).
func (rt *Realtime) Active() int { return rt.feed.Active() }

// initConnection authenticates a WebSocket from its connection_init
// payload ({"Authorization": "Bearer <access token>"}), the same tokens as
// HTTP. Without one the connection keeps the viewer of the upgrade
// request; a bad one closes it with 4403. The transport runs it on a
// short-lived goroutine and recovers a panic in it.
func (rt *Realtime) initConnection(ctx context.Context, payload map[string]any) (context.Context, error) {
	auth := transport.InitPayload(payload).Authorization()
	if auth == "" {
		return ctx, nil
	}
	forbidden := errors.New("Forbidden: the access token is invalid or expired")
	token, ok := cutBearer(auth)
	if !ok {
		return ctx, forbidden
	}
	userID, session, err := rt.opts.Tokens.Access(token)
	if err != nil {
		return ctx, forbidden
	}
	rt.opts.Authenticated(ctx, userID)
	return viewer.NewContext(ctx, viewer.Viewer{UserID: userID, Session: session}), nil
}

// Start runs the relay, the feed's watcher and the WebSocket keep-alive
// until stop is called; stop then closes the broker.
func (rt *Realtime) Start(ctx context.Context) (stop func()) {
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

// GoingAway closes every WebSocket with 1001, so clients reconnect to
// another instance and resume from their cursors, and only then closes the
// broker, which ends the subscriptions (and SSE streams, which
// http.Server.Shutdown would wait for): no WebSocket client is told a
// subscription ended. Mutations still in flight keep working: their events
// wait in the log. ctx bounds the wait for the close handshakes.
func (rt *Realtime) GoingAway(ctx context.Context) {
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

// cutBearer takes the token out of "Bearer <token>", as the Authorization
// header carries it.
func cutBearer(h string) (token string, ok bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(token) > 4096 {
		return "", false
	}
	return strings.TrimSpace(token), true
}
