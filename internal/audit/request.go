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

const reasonKey ctxKey = iota + 1

// WithReason returns a context whose audit entries record why the person acted (a reveal's
// stated reason), as their Target "reason:…". The reason is the person's own words, kept in
// the clear like the rest of the entry, so the console asks for a ticket or a few words and
// never customer details.
func WithReason(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, reasonKey, reason)
}

// Reason returns the reason in ctx, or "".
func Reason(ctx context.Context) string {
	r, _ := ctx.Value(reasonKey).(string)
	return r
}
