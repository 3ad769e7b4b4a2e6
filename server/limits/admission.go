package limits

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"golang.org/x/sync/semaphore"

	"github.com/issuegraph/issuegraph/graph"
)

// Admission bounds the work one instance executes at once, weighed by each
// operation's requested cost: a nested query is thousands of small
// resolver goroutines, and sixteen deep ones at once on two cores starve
// each other — each request's dataloader window closes before its level's
// keys have arrived, one statement per level becomes two or three, and all
// of them are slow together. Weighing by cost rather than counting
// operations keeps light ones (an issue page costs 64 points, a deep
// overview 2,622) from queueing behind a bound they do not need: they spend
// most of their time waiting on loaders and the database, not on a CPU.
//
// Waiters are served in arrival order (a large operation is not starved by
// small ones). One that waits longer than the queue timeout is refused
// with 503 UNAVAILABLE and Retry-After, so the client or a load balancer
// can try another instance. Subscription events are not weighed: they run
// when an event arrives and a subscription holds no budget while idle.
//
// Operations may also be bounded in number (at once): on a saturated
// instance every operation admitted shares the CPU with the others, so
// sixteen boards at once each take sixteen times as long as one, and the
// slowest of them sets the tail. Admitted a few at a time, in arrival
// order, each runs nearly alone; the rest wait their turn at no CPU.
type Admission struct {
	budget *semaphore.Weighted
	size   int64
	// running bounds how many operations execute at once (nil: no bound).
	running *semaphore.Weighted
	wait    time.Duration
	// queued counts the operations waiting for room right now.
	queued atomic.Int64
}

// Queued is how many operations wait for room right now.
func (a *Admission) Queued() int { return int(a.queued.Load()) }

var (
	_ graphql.HandlerExtension    = (*Admission)(nil)
	_ graphql.ResponseInterceptor = (*Admission)(nil)
)

// NewAdmission admits operations whose requested costs add up to at most
// budget points at once, and at most operations of them (0: any number);
// budget <= 0 with no bound on operations admits everything (nil). An
// operation waits at most wait for both.
func NewAdmission(budget, operations int, wait time.Duration) *Admission {
	if budget <= 0 && operations <= 0 {
		return nil
	}
	a := &Admission{wait: wait}
	if budget > 0 {
		a.budget, a.size = semaphore.NewWeighted(int64(budget)), int64(budget)
	}
	if operations > 0 {
		a.running = semaphore.NewWeighted(int64(operations))
	}
	return a
}

func (a *Admission) ExtensionName() string { return "Admission" }

func (a *Admission) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse holds the operation's weight while it executes.
func (a *Admission) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	op := graphql.GetOperationContext(ctx)
	if op.Operation == nil || op.Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	weight := int64(1)
	oc, _ := op.Stats.GetExtension(costStatsKey).(*operationCost)
	if oc != nil && a.budget != nil {
		// An operation larger than the whole budget runs alone.
		weight = min(max(int64(oc.requested), 1), a.size)
	}
	waitCtx, cancel := context.WithTimeout(ctx, a.wait)
	a.queued.Add(1)
	err := a.admit(waitCtx, weight)
	a.queued.Add(-1)
	cancel()
	if err != nil {
		Busy(ctx, time.Second)
		if oc != nil {
			oc.notRun = true
		}
		// Through the error presenter, so the access log counts it too.
		graphql.AddError(ctx, graph.Errorf(graph.CodeUnavailable, "the server is busy; retry shortly"))
		return &graphql.Response{Errors: graphql.GetErrors(ctx)}
	}
	defer a.release(weight)
	return next(ctx)
}

// admit takes a place among the operations running and weight points of
// the budget, in that order (every operation takes them in the same
// order, so none holds one while another waits for it the other way).
func (a *Admission) admit(ctx context.Context, weight int64) error {
	if a.running != nil {
		if err := a.running.Acquire(ctx, 1); err != nil {
			return err
		}
	}
	if a.budget != nil {
		if err := a.budget.Acquire(ctx, weight); err != nil {
			if a.running != nil {
				a.running.Release(1)
			}
			return err
		}
	}
	return nil
}

func (a *Admission) release(weight int64) {
	if a.budget != nil {
		a.budget.Release(weight)
	}
	if a.running != nil {
		a.running.Release(1)
	}
}
