package audit

import "context"

// Actor is whoever is acting: an API key, a staff user or the local command line. It travels
// in the context so that every service writes the same actor into its audit entries without
// each handler passing it along.
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Role string `json:"role"`
}

// System is the actor for work that the operator starts from the command line on the data
// directory itself; holding the directory (and its root key) already grants owner power.
var System = Actor{ID: "system", Name: "command line", Role: "owner"}

type ctxKey int

const (
	actorKey ctxKey = iota
	requestIDKey
)

// WithActor returns a context that carries a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFrom returns the actor in ctx; ok is false when nobody is authenticated.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey).(Actor)
	return a, ok
}

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
