package audit

import "context"

type ctxKey int

const requestIDKey ctxKey = iota

// WithRequestID returns a context that carries the request id, which ties log lines to audit
// entries without putting personal data in either.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}
