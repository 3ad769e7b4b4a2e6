package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/issuegraph/issuegraph/config"
	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/server/servertest"
	"github.com/issuegraph/issuegraph/server/telemetry"
)

func tracedEnv(t *testing.T, opts ...servertest.Option) (*servertest.Env, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "issuegraph-test", SpanExporter: exp, Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Close(context.Background()) })
	return servertest.StartTraced(t, tel, opts...), exp
}

// spansOfTrace returns the finished spans of one trace, by name.
func spansOfTrace(exp *tracetest.InMemoryExporter, traceID string) map[string][]sdktrace.ReadOnlySpan {
	out := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanContext().TraceID().String() == traceID {
			out[s.Name()] = append(out[s.Name()], s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

func postTraced(t *testing.T, env *servertest.Env, token, body string) *servertest.Response {
	t.Helper()
	return postInTrace(t, env, token, traceID, body)
}

// postInTrace posts body as a caller whose span is in trace id.
func postInTrace(t *testing.T, env *servertest.Env, token, id, body string) *servertest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.URL+"/graphql", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+id+"-00f067aa0ba902b7-01")
	return env.As(token).Send(t, req)
}

// TestTraceOfNestedQuery: one trace continues the caller's traceparent:
// HTTP server span → operation span → resolver spans → SQL spans.
func TestTraceOfNestedQuery(t *testing.T) {
	t.Parallel()
	env, exp := tracedEnv(t)
	f := newFixture(t, env, "acme", "ENG")
	f.createIssue(t, map[string]any{"title": "traced", "assigneeId": f.ownerID})
	exp.Reset()

	// Ordered by number: a project's first page in its default order is
	// read by the project's own lookup (no batch); this one goes through
	// the issues' loader batch.
	postTraced(t, env, f.owner.Token, `{"query":"query BoardView { project(organization:\"acme\", key:\"ENG\") { issues(first: 5, orderBy: {field: NUMBER, direction: ASC}) { edges { node { title assignee { name } } } } } }","operationName":"BoardView"}`).MustOK(t)

	spans := spansOfTrace(exp, traceID)
	require.Len(t, spans["POST /graphql"], 1, "one HTTP server span in the caller's trace; got %v", names(spans))
	httpSpan := spans["POST /graphql"][0]
	assert.Equal(t, "00f067aa0ba902b7", httpSpan.Parent().SpanID().String(), "continues the incoming traceparent")
	assert.True(t, httpSpan.Parent().IsRemote())

	require.Len(t, spans["query BoardView"], 1)
	op := spans["query BoardView"][0]
	assert.Equal(t, httpSpan.SpanContext().SpanID(), op.Parent().SpanID(), "operation span is a child of the HTTP span")
	assert.Equal(t, "query", attr(op, "graphql.operation.type"))
	assert.Equal(t, "BoardView", attr(op, "graphql.operation.name"))
	assert.Len(t, attr(op, "graphql.document.sha256"), 64, "the document is identified by hash, not text")
	for _, kv := range op.Attributes() {
		assert.NotContains(t, kv.Value.Emit(), "assignee", "no document text in span attributes")
	}

	require.NotEmpty(t, spans["Query.project"])
	require.NotEmpty(t, spans["Project.issues"])
	assert.Equal(t, op.SpanContext().SpanID(), spans["Query.project"][0].Parent().SpanID())
	assert.Empty(t, spans["Issue.id"], "leaf resolvers get no span")

	// SQL spans hang under the resolver that ran them.
	resolverIDs := map[string]bool{}
	for name, ss := range spans {
		if strings.Contains(name, ".") && !strings.HasPrefix(name, "sql.") {
			for _, s := range ss {
				resolverIDs[s.SpanContext().SpanID().String()] = true
			}
		}
	}
	var sqlUnderResolver int
	for name, ss := range spans {
		if !strings.HasPrefix(name, "sql.") {
			continue
		}
		for _, s := range ss {
			if attr(s, "db.system.name") == "postgresql" && resolverIDs[s.Parent().SpanID().String()] {
				sqlUnderResolver++
			}
		}
	}
	assert.Positive(t, sqlUnderResolver, "SQL spans are children of resolver or loader batch spans; got %v", names(spans))

	// Edges resolve through dataloader batches, each with its own span, its
	// size, and its SQL under it.
	var batches, sqlUnderBatch int
	batchIDs := map[string]bool{}
	for name, ss := range spans {
		if strings.HasPrefix(name, "dataloader.batch ") {
			for _, s := range ss {
				batches++
				batchIDs[s.SpanContext().SpanID().String()] = true
				assert.NotEmpty(t, attr(s, "dataloader.batch_size"))
			}
		}
	}
	for name, ss := range spans {
		if strings.HasPrefix(name, "sql.") {
			for _, s := range ss {
				if batchIDs[s.Parent().SpanID().String()] {
					sqlUnderBatch++
				}
			}
		}
	}
	assert.Positive(t, batches, "loader batch spans; got %v", names(spans))
	assert.Positive(t, sqlUnderBatch, "SQL runs under its batch span")
	assert.NotEmpty(t, attr(op, "db.statements"), "the operation span carries its statement count")
}

func names(m map[string][]sdktrace.ReadOnlySpan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFailingOperationMarksSpan: an operation that returns errors has an
// error status and its codes on the span.
func TestFailingOperationMarksSpan(t *testing.T) {
	t.Parallel()
	env, exp := tracedEnv(t)
	postTraced(t, env, "", `{"query":"query Broken { node(id: \"nope\") { id } }"}`)
	spans := spansOfTrace(exp, traceID)
	require.Len(t, spans["query Broken"], 1, "got %v", names(spans))
	op := spans["query Broken"][0]
	assert.Equal(t, codes.Error, op.Status().Code)
	assert.Contains(t, attr(op, "graphql.error.codes"), "BAD_USER_INPUT")
}

// TestMetricsExposeSeries: after some traffic the Prometheus endpoint has
// every series the dashboards and SLO rules use.
func TestMetricsExposeSeries(t *testing.T) {
	t.Parallel()
	env, _ := tracedEnv(t, servertest.WithRedis(redistest.URL()), func(c *config.Config) {
		c.RedisPrefix = redistest.Prefix(t, redistest.Client(t), "metrics")
		c.RateLimit.AnonCapacity, c.RateLimit.AnonRestoreRate = 40, 0.001
	})
	f := newFixture(t, env, "acme", "ENG")
	f.createIssue(t, map[string]any{"title": "measured"})
	// A batch for the loader series: ordered by number, the page is not
	// read with the project's lookup.
	f.owner.Do(t, `query Board { project(organization: "acme", key: "ENG") { issues(first: 5, orderBy: {field: NUMBER, direction: ASC}) { edges { node { assignee { name } } } } } }`, nil).MustOK(t)
	env.Client().Do(t, `query Q { node(id: "nope") { id } }`, nil)
	// Sign-up and Q spent part of the anonymous bucket's 40 points; 35
	// nodes do not fit in what is left.
	ids := strings.TrimSuffix(strings.Repeat(`"x",`, 35), ",")
	assert.Equal(t, 429, env.Client().Do(t, `{ nodes(ids: [`+ids+`]) { id } }`, nil).Status)
	miss := env.Client().Post(t, "application/json", []byte(`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"`+strings.Repeat("ab", 32)+`"}}}`))
	assert.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, miss.Codes())
	env.DialWS(t, servertest.TransportWS).Init(t, f.owner.Token)

	rec := httptest.NewRecorder()
	env.Server.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, series := range []string{
		`graphql_operations_total{`,
		`outcome="error"`,
		`graphql_operation_name="Q"`,
		`graphql_operation_duration_seconds_bucket{`,
		`http_server_request_duration_seconds_bucket{`,
		`db_sql_connection_open{`,
		`db_client_connections_max{`,
		`graphql_operation_sql_statements_bucket{`,
		`subscriptions_active `,
		`websocket_connections_active{subprotocol="graphql-transport-ws"} 1`,
		`event_relay_lag_events `,
		`event_relay_lag_seconds `,
		`dataloader_batch_size_bucket{`,
		`graphql_cost_charged_total`,
		`ratelimit_rejections_total`,
		`persisted_lookups_total{result="miss",source="apq"}`,
		`go_goroutines `,
	} {
		assert.Contains(t, text, series)
	}
}

// TestAccessLogFieldsAndNoSecrets: one line per request with the fields an
// operator needs, and never a password, token or variable value.
func TestAccessLogFieldsAndNoSecrets(t *testing.T) {
	t.Parallel()
	env, _ := tracedEnv(t)
	token := env.SignUp(t, "secretive@example.com", "S")
	env.As(token).Do(t, `query Lookup($key: String!) { issue(key: $key) { id } }`, map[string]any{"key": "SECRETVALUE-1"})
	postTraced(t, env, token, `{"query":"query Traced { viewer { id } }"}`)

	logs := env.Logs.String()
	for _, secret := range []string{"correct horse battery", token, "SECRETVALUE"} {
		assert.NotContains(t, logs, secret)
	}
	var lookup, traced map[string]any
	for _, line := range env.Logs.Lines() {
		if line["msg"] != "request" {
			continue
		}
		switch line["operation_name"] {
		case "Lookup":
			lookup = line
		case "Traced":
			traced = line
		}
	}
	require.NotNil(t, lookup)
	for _, k := range []string{"request_id", "trace_id", "method", "path", "status", "duration_ms", "operation_type", "viewer_id"} {
		assert.Contains(t, lookup, k)
	}
	require.NotNil(t, traced)
	assert.Equal(t, traceID, traced["trace_id"], "the access log names the caller's trace")

	// Errors of one code are listed once, and counted.
	env.As(token).Do(t, `query Failing { a: node(id: "x") { id } b: node(id: "y") { id } c: node(id: "z") { id } }`, nil)
	var failing map[string]any
	for _, line := range env.Logs.Lines() {
		if line["msg"] == "request" && line["operation_name"] == "Failing" {
			failing = line
		}
	}
	require.NotNil(t, failing)
	assert.Equal(t, []any{"BAD_USER_INPUT"}, failing["error_codes"])
	assert.Equal(t, float64(3), failing["errors"])
}

// deliverySpan waits for the span of the delivery of the event at
// position pos.
func deliverySpan(t *testing.T, exp *tracetest.InMemoryExporter, pos int64) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range exp.GetSpans().Snapshots() {
			if s.Name() == "deliver projectEvents" && attr(s, "issuegraph.event.position") == strconv.FormatInt(pos, 10) {
				found = s
				return true
			}
		}
		return false
	}, waitLong, pollEvery, "no delivery span for position %d", pos)
	return found
}

// TestDeliveredEventLinksToMutation: the span of each delivered event is a
// child of the subscription's trace, links to the span of the mutation
// that recorded the event (another trace), and covers resolving the
// event's selection; an event replayed after a cursor is linked too.
func TestDeliveredEventLinksToMutation(t *testing.T) {
	t.Parallel()
	env, exp := tracedEnv(t)
	f := newFixture(t, env, "traced-live", "TL")
	const (
		subscriberTrace = "0af7651916cd43dd8448eb211c80319c"
		replayTrace     = "5b8efff798038103d269b633813fc60c"
	)
	const board = `subscription Board($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){
		cursor type issue{ key assignee{ name } } } }`
	settled(t, env, f.projectID)
	before := env.Server.ActiveSubscriptions()
	ws := env.DialWS(t, servertest.TransportWS, servertest.WithHeader("traceparent", "00-"+subscriberTrace+"-b7ad6b7169203331-01"))
	ws.Init(t, f.owner.Token)
	ws.Subscribe(t, "1", board, map[string]any{"p": f.projectID})
	waitSubscribed(t, env, before+1)

	create := func(traceID, title string) {
		body, err := json.Marshal(map[string]any{
			"query":     `mutation($in:CreateIssueInput!){ createIssue(input:$in){ userErrors{ message } } }`,
			"variables": map[string]any{"in": map[string]any{"projectId": f.projectID, "title": title, "assigneeId": f.ownerID}},
		})
		require.NoError(t, err)
		postInTrace(t, env, f.owner.Token, traceID, string(body)).MustOK(t)
	}
	create(traceID, "traced live")
	live := nextEvent(t, ws, "1")
	require.Equal(t, "issue.created", live.Type)

	span := deliverySpan(t, exp, live.position(t))
	assert.Equal(t, trace.SpanKindConsumer, span.SpanKind())
	assert.Equal(t, subscriberTrace, span.SpanContext().TraceID().String(), "in the subscription's trace")
	started := spansOfTrace(exp, subscriberTrace)["Subscription.projectEvents"]
	require.Len(t, started, 1)
	assert.Equal(t, started[0].SpanContext().SpanID(), span.Parent().SpanID(), "a child of the span that started the subscription")
	assert.Equal(t, "issue.created", attr(span, "issuegraph.event.type"))
	assert.Equal(t, "project:"+strconv.FormatInt(dbID(t, f.projectID, "Project"), 10), attr(span, "issuegraph.event.stream"))
	assert.Equal(t, "Board", attr(span, "graphql.operation.name"))
	assert.Equal(t, "false", attr(span, "issuegraph.event.from_log"))
	require.Len(t, span.Links(), 1)
	link := span.Links()[0].SpanContext
	assert.Equal(t, traceID, link.TraceID().String(), "linked to the mutation's trace")
	mutationSpans := map[string]bool{}
	for _, ss := range spansOfTrace(exp, traceID) {
		for _, s := range ss {
			mutationSpans[s.SpanContext().SpanID().String()] = true
		}
	}
	assert.True(t, mutationSpans[link.SpanID().String()], "the link names a span of the mutation's request")

	// Resolving the event's selection happens under the delivery span.
	var resolvedUnder bool
	for _, s := range spansOfTrace(exp, subscriberTrace)["Issue.assignee"] {
		resolvedUnder = resolvedUnder || s.Parent().SpanID() == span.SpanContext().SpanID()
	}
	assert.True(t, resolvedUnder, "Issue.assignee resolves under the delivery span")

	// An event missed while away is replayed from the log, linked too.
	ws.CloseNow()
	create(replayTrace, "traced while away")
	positionsEventually(t, env, f.projectID, 3) // project created, two issues
	ws2 := env.DialWS(t, servertest.TransportWS)
	ws2.Init(t, f.owner.Token)
	ws2.Subscribe(t, "1", board, map[string]any{"p": f.projectID, "a": live.Cursor})
	replayed := nextEvent(t, ws2, "1")
	require.Equal(t, live.position(t)+1, replayed.position(t))
	span = deliverySpan(t, exp, replayed.position(t))
	assert.Equal(t, "true", attr(span, "issuegraph.event.from_log"))
	require.Len(t, span.Links(), 1)
	assert.Equal(t, replayTrace, span.Links()[0].SpanContext.TraceID().String())
}

// metricText is the instance's /metrics page.
func metricText(t *testing.T, env *servertest.Env) string {
	t.Helper()
	rec := httptest.NewRecorder()
	env.Server.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	return rec.Body.String()
}

// metricSum adds up the samples of a series over all its labels.
func metricSum(t *testing.T, env *servertest.Env, name string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(metricText(t, env), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		require.NoError(t, err, line)
		sum += v
	}
	return sum
}

// TestWebSocketConnectionsGauge: websocket_connections_active counts open
// WebSockets by subprotocol, and every way a connection ends uncounts it:
// the client closing, the server closing on a bad token (4403) or a
// missing connection_init (4408), and shutdown (1001).
func TestWebSocketConnectionsGauge(t *testing.T) {
	t.Parallel()
	env, _ := tracedEnv(t, func(c *config.Config) { c.WSInitTimeout = time.Second })
	token := env.SignUp(t, "gauge@example.com", "Gauge")
	waitActive := func(want float64) {
		t.Helper()
		require.Eventually(t, func() bool { return metricSum(t, env, "websocket_connections_active") == want },
			waitLong, pollEvery, "want %v open WebSockets:\n%s", want, metricText(t, env))
	}

	current := env.DialWS(t, servertest.TransportWS)
	current.Init(t, token)
	legacy := env.DialWS(t, servertest.LegacyWS)
	legacy.Init(t, token)
	waitActive(2)
	text := metricText(t, env)
	assert.Contains(t, text, `websocket_connections_active{subprotocol="graphql-transport-ws"} 1`)
	assert.Contains(t, text, `websocket_connections_active{subprotocol="graphql-ws"} 1`)
	current.CloseNow()
	legacy.CloseNow()
	waitActive(0)

	bad := env.DialWS(t, servertest.TransportWS)
	waitActive(1)
	bad.Send(t, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer not-a-token"}})
	assert.Equal(t, 4403, bad.CloseStatus(t, waitLong))
	waitActive(0)

	idle := env.DialWS(t, servertest.TransportWS)
	waitActive(1)
	assert.Equal(t, 4408, idle.CloseStatus(t, waitLong))
	waitActive(0)

	last := env.DialWS(t, servertest.TransportWS)
	last.Init(t, token)
	waitActive(1)
	stopped := env.StopAsync()
	assert.Equal(t, 1001, last.CloseStatus(t, waitLong))
	waitActive(0)
	require.NoError(t, <-stopped)
}

// TestSlowOperationLog logs an operation slower than the threshold again
// at warn level, with its statement count; a subscription, whose access
// line covers its whole connection, is never a slow operation.
func TestSlowOperationLog(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *config.Config) { c.SlowOperation = time.Nanosecond })
	f := newFixture(t, env, "acme", "ENG")
	f.owner.Do(t, `query Slowish { viewer { name } }`, nil).MustOK(t)

	ws := env.DialWS(t, servertest.TransportWS)
	ws.Init(t, f.owner.Token)
	ws.Subscribe(t, "1", projectEventsQuery, map[string]any{"p": f.projectID})
	require.Eventually(t, func() bool { return env.Server.ActiveSubscriptions() == 1 }, waitLong, pollEvery, "the subscription runs")
	ws.Close()
	require.Eventually(t, func() bool {
		for _, line := range env.Logs.Lines() {
			if line["msg"] == "request" && line["operation_type"] == "subscription" {
				return true
			}
		}
		return false
	}, waitLong, pollEvery, "the subscription's access line")

	var slow []map[string]any
	for _, line := range env.Logs.Lines() {
		if line["msg"] == "slow operation" {
			slow = append(slow, line)
		}
	}
	require.NotEmpty(t, slow)
	var query bool
	for _, line := range slow {
		assert.NotEqual(t, "subscription", line["operation_type"], "a subscription is not a slow operation")
		if line["operation_name"] == "Slowish" {
			query = true
			assert.Equal(t, "WARN", line["level"])
			assert.Contains(t, line, "sql_statements")
			assert.Contains(t, line, "threshold_ms")
		}
	}
	assert.True(t, query, "the slow query is logged")
}
