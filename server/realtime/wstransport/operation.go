package wstransport

import (
	"context"
	"errors"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// operation is one subscribe (start) of a connection. It is its own
// Pacer: a paced subscription calls Ready once per response it makes
// available, and whichever goroutine finds nobody taking responses takes
// them (drive), so an idle subscription holds no goroutine.
type operation struct {
	c      *conn
	id     string
	idJSON []byte // id encoded as JSON, for every message of the operation
	cancel context.CancelFunc

	mu        sync.Mutex
	ctx       context.Context // the dispatched operation's; set by run
	responses graphql.ResponseHandler
	paced     bool
	stream    bool // a subscription: Options.Retryable applies
	pending   int  // Ready calls not yet taken
	driving   bool // a goroutine is taking responses
	done      bool
}

var _ Pacer = (*operation)(nil)

// Paced tells the operation its subscription will call Ready.
func (op *operation) Paced() {
	op.mu.Lock()
	op.paced = true
	op.mu.Unlock()
}

// Ready takes one more response, on this goroutine unless another one is
// taking them already (or the operation has not finished starting: run
// takes it then).
func (op *operation) Ready() {
	op.mu.Lock()
	op.pending++
	if op.driving || op.responses == nil || op.done {
		op.mu.Unlock()
		return
	}
	op.driving = true
	op.mu.Unlock()
	op.drive()
}

// run prepares and dispatches the operation through the executor (every
// extension applies), then takes its responses: all of them for a query,
// a mutation or an unpaced subscription, those already made available for
// a paced one.
func (op *operation) run(ctx context.Context, params *graphql.RawParams) {
	c := op.c
	var rc *graphql.OperationContext
	defer func() {
		if p := recover(); p != nil {
			err := c.recover(p)
			if rc != nil {
				err = rc.Recover(ctx, p)
			}
			op.fail(gqlerror.List{asGQLError(err)})
		}
	}()
	ctx = graphql.StartOperationTrace(ctx)
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			op.fail(resp.Errors)
			return
		}
		op.send(resp)
		op.finish()
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	if c.t.opts.Pace != nil {
		ctx = c.t.opts.Pace(ctx, op)
	}
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	op.mu.Lock()
	op.ctx, op.responses = ctx, responses
	op.stream = rc.Operation != nil && rc.Operation.Operation == ast.Subscription
	if !op.paced {
		op.pending = -1 // unbounded: take responses until the end
	}
	if op.pending == 0 || op.driving {
		op.mu.Unlock()
		return
	}
	op.driving = true
	op.mu.Unlock()
	op.drive()
}

// drive takes responses while some are pending; the caller has set
// driving.
func (op *operation) drive() {
	defer func() {
		if p := recover(); p != nil {
			op.mu.Lock()
			op.done, op.driving = true, false
			op.mu.Unlock()
			op.fail(gqlerror.List{asGQLError(graphql.GetOperationContext(op.ctx).Recover(op.ctx, p))})
		}
	}()
	for {
		op.mu.Lock()
		if op.pending == 0 || op.done {
			op.driving = false
			op.mu.Unlock()
			return
		}
		if op.pending > 0 {
			op.pending--
		}
		op.mu.Unlock()
		resp := op.responses(op.ctx)
		if resp == nil {
			op.mu.Lock()
			op.done, op.driving = true, false
			op.mu.Unlock()
			op.finish()
			return
		}
		if op.stream && op.c.t.opts.Retryable != nil && op.c.t.opts.Retryable(resp) {
			op.mu.Lock()
			op.done, op.driving = true, false
			op.mu.Unlock()
			op.retry()
			return
		}
		op.send(resp)
	}
}

// send writes one response as next (graphql-transport-ws) or data
// (graphql-ws), encoded into a buffer of the transport's pool.
func (op *operation) send(resp *graphql.Response) {
	typ := "next"
	if !op.c.transportWS {
		typ = "data"
	}
	buf := op.c.t.messages.get()
	defer op.c.t.messages.put(buf)
	var err error
	if *buf, err = appendResponse((*buf)[:0], op.idJSON, typ, resp); err != nil {
		op.c.t.opts.Log.ErrorContext(op.c.base, "websocket: encoding a response", "error", err)
		return
	}
	_ = op.c.write(*buf)
}

// finish completes the operation, unless the client stopped it.
func (op *operation) finish() {
	op.cancel()
	if op.c.forget(op) {
		_ = op.c.write(encode(op.id, "complete", nil))
	}
}

// fail ends the operation with an error message (graphql-ws completes it
// after that too).
func (op *operation) fail(errs gqlerror.List) {
	op.cancel()
	if !op.c.forget(op) {
		return
	}
	_ = op.c.write(encode(op.id, "error", mustJSON(errs)))
	if !op.c.transportWS {
		_ = op.c.write(encode(op.id, "complete", nil))
	}
}

// retry ends a subscription the client should start again: not with
// complete, which would tell the client it is over, but by closing the
// connection with 1013, which clients reconnect after, resuming every
// subscription of the connection with its cursor.
func (op *operation) retry() {
	op.cancel()
	if op.c.forget(op) {
		op.c.close(CloseTryAgainLater, "try again later: subscribe again with after")
	}
}

func asGQLError(err error) *gqlerror.Error {
	var e *gqlerror.Error
	if errors.As(err, &e) {
		return e
	}
	if err == nil {
		return &gqlerror.Error{Message: "internal server error"}
	}
	return &gqlerror.Error{Message: err.Error()}
}
