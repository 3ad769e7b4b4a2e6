package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/issuegraph/issuegraph/server/redistest"
	"github.com/issuegraph/issuegraph/subscriptions/broker"
)

// wait bounds every wait for a message or an end in these tests.
const wait = 5 * time.Second

// MustRedis returns a client of the test Redis, closed when the test ends.
func MustRedis(tb testing.TB) *redis.Client { return redistest.Client(tb) }

// RandomPrefix returns a channel prefix no other test run uses.
func RandomPrefix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 8)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	return "test:broker:" + hex.EncodeToString(b) + ":"
}

// testLogger sends a broker's log to the test's output.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// MustRedisBroker returns a Redis broker with the given prefix, closed when
// the test ends.
func MustRedisBroker(tb testing.TB, prefix string, opts broker.Options) *broker.Redis {
	tb.Helper()
	opts.Prefix = prefix
	opts.Logger = testLogger(tb)
	b := broker.NewRedis(MustRedis(tb), opts)
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// implementations is the table every behaviour test runs over.
var implementations = []struct {
	name string
	new  func(tb testing.TB, opts broker.Options) broker.Broker
}{
	{"memory", func(tb testing.TB, opts broker.Options) broker.Broker {
		opts.Logger = testLogger(tb)
		b := broker.NewMemory(opts)
		tb.Cleanup(func() { _ = b.Close() })
		return b
	}},
	{"redis", func(tb testing.TB, opts broker.Options) broker.Broker {
		return MustRedisBroker(tb, RandomPrefix(tb), opts)
	}},
}

// forEach runs test as a parallel subtest against every implementation.
func forEach(t *testing.T, test func(t *testing.T, newBroker func(broker.Options) broker.Broker)) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			test(t, func(opts broker.Options) broker.Broker { return impl.new(t, opts) })
		})
	}
}

func MustSubscribe(tb testing.TB, b broker.Broker, stream string) *broker.Subscription {
	tb.Helper()
	sub, err := b.Subscribe(context.Background(), stream)
	require.NoError(tb, err)
	tb.Cleanup(sub.Close)
	return sub
}

func MustPublish(tb testing.TB, b broker.Broker, stream, payload string) {
	tb.Helper()
	require.NoError(tb, b.Publish(context.Background(), stream, []byte(payload)))
}

// Receive returns the next message of sub, failing if none arrives in time or
// the subscription ends.
func Receive(tb testing.TB, sub *broker.Subscription) *broker.Message {
	tb.Helper()
	select {
	case msg, ok := <-sub.C():
		require.True(tb, ok, "subscription ended: %v", sub.Err())
		return msg
	case <-time.After(wait):
		require.FailNow(tb, "no message in time")
		return nil
	}
}

// RequireEnded drains sub until its channel closes and returns how many
// messages were still buffered.
func RequireEnded(tb testing.TB, sub *broker.Subscription) int {
	tb.Helper()
	timeout := time.After(wait)
	for n := 0; ; n++ {
		select {
		case _, ok := <-sub.C():
			if !ok {
				return n
			}
		case <-timeout:
			require.FailNow(tb, "subscription did not end")
		}
	}
}

func RequireQuiet(tb testing.TB, sub *broker.Subscription) {
	tb.Helper()
	select {
	case msg, ok := <-sub.C():
		require.Fail(tb, "unexpected delivery", "message %q, open %v", msg.Payload, ok)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestFanOut(t *testing.T) {
	forEach(t, func(t *testing.T, newBroker func(broker.Options) broker.Broker) {
		b := newBroker(broker.Options{})
		const subscribers, messages = 100, 20
		subs := make([]*broker.Subscription, subscribers)
		for i := range subs {
			subs[i] = MustSubscribe(t, b, "project:1")
		}
		other := MustSubscribe(t, b, "project:2")

		for i := range messages {
			MustPublish(t, b, "project:1", strconv.Itoa(i))
		}
		for _, sub := range subs {
			for i := range messages {
				msg := Receive(t, sub)
				require.Equal(t, "project:1", msg.Stream)
				require.Equal(t, strconv.Itoa(i), string(msg.Payload))
			}
		}
		RequireQuiet(t, other)
	})
}

func TestOrderingPerStream(t *testing.T) {
	forEach(t, func(t *testing.T, newBroker func(broker.Options) broker.Broker) {
		const messages = 500
		b := newBroker(broker.Options{BufferSize: 2 * messages})
		streams := []string{"issue:1", "issue:2", "issue:3"}
		subs := make(map[string]*broker.Subscription)
		for _, s := range streams {
			subs[s] = MustSubscribe(t, b, s)
		}

		// Publishers of different streams run concurrently; each stream has a
		// single publisher, as the outbox relay guarantees.
		var wg sync.WaitGroup
		for _, s := range streams {
			wg.Go(func() {
				for i := range messages {
					assert.NoError(t, b.Publish(context.Background(), s, []byte(s+"#"+strconv.Itoa(i))))
				}
			})
		}
		wg.Wait()

		for _, s := range streams {
			for i := range messages {
				require.Equal(t, s+"#"+strconv.Itoa(i), string(Receive(t, subs[s]).Payload))
			}
		}
	})
}

func TestPublishCopiesPayload(t *testing.T) {
	forEach(t, func(t *testing.T, newBroker func(broker.Options) broker.Broker) {
		b := newBroker(broker.Options{})
		sub := MustSubscribe(t, b, "issue:1")
		payload := []byte("first")
		require.NoError(t, b.Publish(context.Background(), "issue:1", payload))
		copy(payload, "xxxxx")
		require.Equal(t, "first", string(Receive(t, sub).Payload))
	})
}

func TestSlowConsumer(t *testing.T) {
	forEach(t, func(t *testing.T, newBroker func(broker.Options) broker.Broker) {
		const buffer, messages = 8, 50
		b := newBroker(broker.Options{BufferSize: buffer})
		slow := MustSubscribe(t, b, "project:1")
		fast := MustSubscribe(t, b, "project:1")

		// Lockstep: the fast subscriber reads each message before the next is
		// published, the slow one never reads.
		for i := range messages {
			MustPublish(t, b, "project:1", strconv.Itoa(i))
			require.Equal(t, strconv.Itoa(i), string(Receive(t, fast).Payload))
		}

		require.Equal(t, buffer, RequireEnded(t, slow), "the slow subscriber keeps what fitted in its buffer")
		require.ErrorIs(t, slow.Err(), broker.ErrSlowConsumer)
		require.NoError(t, fast.Err())

		MustPublish(t, b, "project:1", "after")
		require.Equal(t, "after", string(Receive(t, fast).Payload))
	})
}

func TestSubscriptionClose(t *testing.T) {
	forEach(t, func(t *testing.T, newBroker func(broker.Options) broker.Broker) {
		b := newBroker(broker.Options{})
		closed := MustSubscribe(t, b, "issue:1")
		ctx, cancel := context.WithCancel(context.Background())
		cancelled, err := b.Subscribe(ctx, "issue:1")
		require.NoError(t, err)
		staying := MustSubscribe(t, b, "issue:1")

		closed.Close()
		closed.Close() // idempotent
		cancel()
		RequireEnded(t, closed)
		RequireEnded(t, cancelled)
		require.NoError(t, closed.Err())
		require.NoError(t, cancelled.Err())

		MustPublish(t, b, "issue:1", "still here")
		require.Equal(t, "still here", string(Receive(t, staying).Payload))
		require.NoError(t, staying.Err())
	})
}

func TestSubscribeWithDoneContext(t *testing.T) {
	forEach(t, func(t *testing.T, newBroker func(broker.Options) broker.Broker) {
		b := newBroker(broker.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := b.Subscribe(ctx, "issue:1")
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestCloseEndsSubscriptions(t *testing.T) {
	forEach(t, func(t *testing.T, newBroker func(broker.Options) broker.Broker) {
		b := newBroker(broker.Options{})
		var subs []*broker.Subscription
		for i := range 10 {
			subs = append(subs, MustSubscribe(t, b, "project:"+strconv.Itoa(i%3)))
		}
		MustPublish(t, b, "project:0", "buffered")

		require.NoError(t, b.Close())
		for _, sub := range subs {
			RequireEnded(t, sub)
			require.ErrorIs(t, sub.Err(), broker.ErrBrokerClosed)
			sub.Close() // closing an ended subscription is harmless and keeps the reason
			require.ErrorIs(t, sub.Err(), broker.ErrBrokerClosed)
		}

		_, err := b.Subscribe(context.Background(), "project:0")
		require.ErrorIs(t, err, broker.ErrBrokerClosed)
		require.ErrorIs(t, b.Publish(context.Background(), "project:0", nil), broker.ErrBrokerClosed)
		require.NoError(t, b.Close(), "Close is idempotent")
	})
}

func TestConcurrentSubscribersOfOneStream(t *testing.T) {
	forEach(t, func(t *testing.T, newBroker func(broker.Options) broker.Broker) {
		// Room for the noise still in flight when the last subscriber arrives.
		b := newBroker(broker.Options{BufferSize: 4096})
		// Subscribers come and go on one stream while it is published to: the
		// race detector checks the reference counting and that no channel is
		// sent on after being closed.
		ctx, stop := context.WithCancel(context.Background())
		var publisher sync.WaitGroup
		publisher.Go(func() {
			for ctx.Err() == nil {
				_ = b.Publish(context.Background(), "project:1", []byte("noise"))
				time.Sleep(time.Millisecond)
			}
		})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 25 {
					sub, err := b.Subscribe(context.Background(), "project:1")
					if !assert.NoError(t, err) {
						return
					}
					sub.Close()
				}
			})
		}
		wg.Wait()
		stop()
		publisher.Wait()

		sub := MustSubscribe(t, b, "project:1")
		MustPublish(t, b, "project:1", "last")
		for Receive(t, sub).Payload[0] != 'l' { // skip noise still in flight
		}
	})
}

// redisChannelSubscribers returns how many connections subscribe channel.
func redisChannelSubscribers(tb testing.TB, client *redis.Client, channel string) int64 {
	tb.Helper()
	counts, err := client.PubSubNumSub(context.Background(), channel).Result()
	require.NoError(tb, err)
	return counts[channel]
}

func TestRedisAcrossInstances(t *testing.T) {
	t.Parallel()
	prefix := RandomPrefix(t)
	a := MustRedisBroker(t, prefix, broker.Options{})
	b := MustRedisBroker(t, prefix, broker.Options{})

	onA := MustSubscribe(t, a, "issue:7")
	onB := MustSubscribe(t, b, "issue:7")

	MustPublish(t, a, "issue:7", "from a")
	MustPublish(t, b, "issue:7", "from b")
	for _, sub := range []*broker.Subscription{onA, onB} {
		require.Equal(t, "from a", string(Receive(t, sub).Payload))
		require.Equal(t, "from b", string(Receive(t, sub).Payload))
	}

	// A broker with another prefix is another deployment: it sees nothing.
	elsewhere := MustSubscribe(t, MustRedisBroker(t, RandomPrefix(t), broker.Options{}), "issue:7")
	MustPublish(t, a, "issue:7", "private")
	require.Equal(t, "private", string(Receive(t, onB).Payload))
	RequireQuiet(t, elsewhere)
}

func TestRedisReferenceCounting(t *testing.T) {
	t.Parallel()
	prefix := RandomPrefix(t)
	client := MustRedis(t)
	channel := prefix + "project:42"
	a := MustRedisBroker(t, prefix, broker.Options{})

	subs := make([]*broker.Subscription, 3)
	for i := range subs {
		subs[i] = MustSubscribe(t, a, "project:42")
	}
	require.EqualValues(t, 1, redisChannelSubscribers(t, client, channel), "one upstream subscription per stream and instance")

	b := MustRedisBroker(t, prefix, broker.Options{})
	onB := MustSubscribe(t, b, "project:42")
	require.EqualValues(t, 2, redisChannelSubscribers(t, client, channel), "one per instance")

	subs[0].Close()
	subs[1].Close()
	MustPublish(t, b, "project:42", "still subscribed")
	require.Equal(t, "still subscribed", string(Receive(t, subs[2]).Payload))
	require.EqualValues(t, 2, redisChannelSubscribers(t, client, channel))

	subs[2].Close()
	require.Eventually(t, func() bool { return redisChannelSubscribers(t, client, channel) == 1 },
		wait, 10*time.Millisecond, "the last local subscriber leaving unsubscribes the instance")
	onB.Close()
	require.Eventually(t, func() bool { return redisChannelSubscribers(t, client, channel) == 0 },
		wait, 10*time.Millisecond)

	// The stream can be subscribed again afterwards.
	again := MustSubscribe(t, a, "project:42")
	require.EqualValues(t, 1, redisChannelSubscribers(t, client, channel))
	MustPublish(t, b, "project:42", "again")
	require.Equal(t, "again", string(Receive(t, again).Payload))
}

func TestRedisReferenceCountingUnderChurn(t *testing.T) {
	t.Parallel()
	prefix := RandomPrefix(t)
	client := MustRedis(t)
	b := MustRedisBroker(t, prefix, broker.Options{})

	// Many goroutines subscribe to and leave the same streams at once; the
	// Redis subscriptions must end up matching the local subscribers.
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := range 30 {
				stream := fmt.Sprintf("issue:%d", (g+i)%3)
				sub, err := b.Subscribe(context.Background(), stream)
				if !assert.NoError(t, err) {
					return
				}
				sub.Close()
			}
		})
	}
	wg.Wait()

	for i := range 3 {
		channel := fmt.Sprintf("%sissue:%d", prefix, i)
		require.Eventually(t, func() bool { return redisChannelSubscribers(t, client, channel) == 0 },
			wait, 10*time.Millisecond, "no subscriber left on %s", channel)
	}
	sub := MustSubscribe(t, b, "issue:1")
	require.EqualValues(t, 1, redisChannelSubscribers(t, client, prefix+"issue:1"))
	MustPublish(t, b, "issue:1", "live")
	require.Equal(t, "live", string(Receive(t, sub).Payload))
}

func TestRedisSlowConsumerUnsubscribes(t *testing.T) {
	t.Parallel()
	prefix := RandomPrefix(t)
	client := MustRedis(t)
	b := MustRedisBroker(t, prefix, broker.Options{BufferSize: 1})
	slow := MustSubscribe(t, b, "issue:9")

	MustPublish(t, b, "issue:9", "1")
	MustPublish(t, b, "issue:9", "2")
	// Not reading C until it ended: reading would make room for "2".
	require.Eventually(t, func() bool { return errors.Is(slow.Err(), broker.ErrSlowConsumer) },
		wait, 10*time.Millisecond)
	require.Equal(t, 1, RequireEnded(t, slow))
	require.Eventually(t, func() bool { return redisChannelSubscribers(t, client, prefix+"issue:9") == 0 },
		wait, 10*time.Millisecond, "ending the last subscriber from the dispatch loop unsubscribes too")
}

func TestRedisHealthy(t *testing.T) {
	t.Parallel()
	b := MustRedisBroker(t, RandomPrefix(t), broker.Options{})
	require.Eventually(t, b.Healthy, wait, 10*time.Millisecond)
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: Redis is down for this broker.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = client.Close() })
	b := broker.NewRedis(client, broker.Options{Prefix: RandomPrefix(t), Logger: testLogger(t)})
	t.Cleanup(func() { _ = b.Close() })

	start := time.Now()
	require.Error(t, b.Publish(context.Background(), "issue:1", []byte("x")))
	_, err := b.Subscribe(context.Background(), "issue:1")
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second, "errors come promptly")
	require.False(t, b.Healthy())
	require.NoError(t, b.Close())
}

// killPubSubConnection closes, on the Redis side, the pub/sub connection of
// the client named name, as a Redis restart would. Only that one connection
// is touched: other tests share this Redis.
func killPubSubConnection(tb testing.TB, admin *redis.Client, name string) {
	tb.Helper()
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	require.NoError(tb, err)
	killed := 0
	for line := range strings.Lines(list) {
		fields := make(map[string]string)
		for field := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(field, "=")
			fields[k] = v
		}
		if fields["name"] != name || fields["sub"] == "0" {
			continue
		}
		id, err := strconv.ParseInt(fields["id"], 10, 64)
		require.NoError(tb, err)
		require.NoError(tb, admin.ClientKillByFilter(ctx, "ID", strconv.FormatInt(id, 10)).Err())
		killed++
	}
	require.Equal(tb, 1, killed, "exactly one pub/sub connection named %s", name)
}

func TestRedisSubscriptionsSurviveConnectionLoss(t *testing.T) {
	t.Parallel()
	prefix := RandomPrefix(t)
	admin := MustRedis(t)
	name := "broker-test-" + strings.TrimSuffix(strings.TrimPrefix(prefix, "test:broker:"), ":")
	opts, err := redis.ParseURL(redistest.URL())
	require.NoError(t, err)
	opts.ClientName = name
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	b := broker.NewRedis(client, broker.Options{Prefix: prefix, Logger: testLogger(t)})
	t.Cleanup(func() { _ = b.Close() })
	sub := MustSubscribe(t, b, "issue:3")
	require.Eventually(t, b.Healthy, wait, 10*time.Millisecond)

	killPubSubConnection(t, admin, name)

	// Messages published before go-redis has resubscribed are lost (the event
	// log covers them), so publish until one gets through.
	require.Eventually(t, func() bool {
		if err := admin.Publish(context.Background(), prefix+"issue:3", "after reconnect").Err(); err != nil {
			return false
		}
		select {
		case msg := <-sub.C():
			return string(msg.Payload) == "after reconnect"
		case <-time.After(20 * time.Millisecond):
			return false
		}
	}, wait, time.Millisecond, "the subscription receives again once the connection is back")
	require.NoError(t, sub.Err())
	require.True(t, b.Healthy())
	require.EqualValues(t, 1, redisChannelSubscribers(t, admin, prefix+"issue:3"))

	// New streams can be subscribed on the new connection.
	other := MustSubscribe(t, b, "issue:4")
	MustPublish(t, b, "issue:4", "new stream")
	require.Equal(t, "new stream", string(Receive(t, other).Payload))
}
