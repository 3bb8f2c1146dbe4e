package httpapi

import (
	"net/http"
	"reflect"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/rights"
)

// routes is the API map: one line per route, with the Go types of its bodies, its success
// status and the error statuses it documents. Summaries and query parameters are in
// routedocs.go, so the lines stay readable; both feed /openapi.json, so a route cannot exist
// undocumented.
func (s *Server) routes() []route {
	rs := []route{
		get("/healthz", s.health, public, out[Health](200)),
		get("/readyz", s.ready, public, out[Readiness](200), errs(503)),
		get("/metrics", s.metrics, public, outMedia("text/plain", 200)),
		get("/openapi.json", s.openAPI, public, outAny(200)),
		post("/v1/validate", s.validate, in[validateInput](), out[quality.Report](200), errs(400, 403, 413, 422)),
		get("/v1/catalog", s.getCatalog, out[catalog.Catalog](200), errs(403)),
		get("/v1/purposes", s.listPurposes, out[PurposeList](200), errs(403)),
		post("/v1/customers", s.createCustomer, query(createQuery...), in[CustomerInput](), out[customer.View](201), out[customer.View](200),
			errs(400, 403, 409, 413, 422)),
		get("/v1/customers", s.listCustomers, query(customerQuery...), header(purposeHeader), out[CustomerList](200), errs(403, 422)),
		get("/v1/customers/search", s.searchCustomers, query(searchQuery...), header(purposeHeader), out[SearchList](200), errs(403, 422)),
		get("/v1/customers/{id}", s.getCustomer, header(purposeHeader), out[customer.View](200), redirect[customer.Merged](308),
			errs(403, 404, 410, 422)),
		patch("/v1/customers/{id}", s.patchCustomer, in[CustomerInput](), out[customer.View](200), redirect[customer.Merged](308),
			errs(400, 403, 404, 409, 410, 413, 422)),
		get("/v1/audit", s.listAudit, query(auditQuery...), out[AuditList](200), errs(403, 422)),
		get("/v1/audit/verify", s.verifyAudit, out[AuditVerification](200), errs(403)),
		get("/v1/apikeys", s.listAPIKeys, out[APIKeyList](200), errs(403)),
		post("/v1/apikeys", s.createAPIKey, in[APIKeyInput](), out[NewAPIKey](201), errs(400, 403, 422)),
		del("/v1/apikeys/{id}", s.revokeAPIKey, noBody(204), errs(403, 404, 422)),
		post("/v1/keys/rotate", s.rotateKeys, out[job.Job](202), errs(403, 409)),

		// Data-subject requests, erasure and legal holds (handlers in requests.go).
		post("/v1/requests", s.createRequest, in[rights.NewRequest](), out[rights.Request](201), errs(400, 403, 404, 409, 410, 422)),
		get("/v1/requests", s.listRequests, query(requestQuery...), out[RequestList](200), errs(403, 422)),
		get("/v1/requests/{id}", s.getRequest, out[rights.Request](200), errs(403, 404, 422)),
		post("/v1/requests/{id}/verify", s.verifyRequest, out[rights.Request](200), errs(403, 404, 409, 422)),
		post("/v1/requests/{id}/complete", s.completeRequest, optionalIn[rights.Completion](), out[rights.Request](200),
			errs(400, 403, 404, 409, 410, 422)),
		post("/v1/requests/{id}/reject", s.rejectRequest, in[Rejection](), out[rights.Request](200), errs(400, 403, 404, 409, 422)),
		get("/v1/requests/{id}/export", s.downloadExport, public, query(tokenParam), outMedia("application/zip", 200),
			errs(401, 403, 404, 410, 422)),
		post("/v1/privacy/requests", s.selfRequest, public, pages, inOrForm[rights.SelfRequest](), out[Accepted](202), redirects(303),
			errs(400, 413, 422, 429, 503)),
		options("/v1/privacy/requests", s.privacyPreflight, public, noBody(204)),
		get("/v1/privacy/received", s.receivedPage, public, outMedia("text/html", 200)),
		get("/v1/privacy/confirm", s.confirmPage, public, pages, query(emailTokenParam), outMedia("text/html", 200), errs(422)),
		post("/v1/privacy/confirm", s.confirmRequest, public, pages, inOrForm[Confirmation](), out[ConfirmedRequest](200),
			outMedia("text/html", 200), errs(400, 410, 413, 422)),
		get("/v1/requests/confirm", s.oldConfirmLink, public, pages, query(emailTokenParam), redirects(301), errs(422)),
		get("/v1/erasures/{id}", s.getErasure, out[ErasureReport](200), errs(403, 404, 422)),
		get("/v1/suppression", s.checkSuppression, query(suppressionQuery...), out[Suppression](200), errs(403, 422)),
		put("/v1/customers/{id}/legal-hold", s.setHold, in[HoldInput](), out[rights.Hold](200), errs(400, 403, 404, 410, 413, 422)),
		del("/v1/customers/{id}/legal-hold", s.releaseHold, noBody(204), errs(403, 404, 422)),
		get("/v1/jobs/{id}", s.getJob, out[job.Job](200), errs(403, 404)),

		// Privacy policies and consent (handlers in consent.go).
		get("/v1/policies", s.listPolicies, out[consent.PolicyList](200), errs(403)),
		post("/v1/policies", s.publishPolicy, in[consent.PolicyInput](), out[consent.Policy](201), errs(400, 403, 409, 413, 422)),
		get("/v1/policies/{version}", s.getPolicy, out[consent.Policy](200), errs(403, 404)),
		post("/v1/customers/{id}/consents", s.recordConsent, header(gpcHeader), in[consent.Input](), out[consent.Record](201),
			errs(400, 403, 404, 413, 422)),
		get("/v1/customers/{id}/consents", s.consentHistory, header(gpcHeader), out[consent.History](200), errs(403, 404, 422)),
		get("/v1/customers/{id}/permissions/{purpose}", s.permission, header(gpcHeader), out[consent.Decision](200), errs(403, 404, 422)),
		post("/v1/permissions/check", s.checkPermissions, in[CheckInput](), out[consent.Bulk](200), errs(400, 403, 413, 422),
			maxBody(checkMaxBody)),
		post("/v1/suppressions", s.suppress, in[consent.SuppressionInput](), out[consent.SuppressionResult](201), errs(400, 403, 413, 422)),
		post("/v1/consent-receipts/verify", s.verifyReceipt, public, in[ReceiptInput](), out[ReceiptVerification](200), errs(400, 413)),
		get("/.well-known/jwks.json", s.jwks, public, out[consent.KeySet](200)),
		get("/.well-known/gpc.json", s.gpcSupport, public, out[GPCSupport](200)),
	}
	rs = append(rs, s.ingestRoutes()...)
	rs = append(rs, s.importRoutes()...)
	rs = append(rs, s.noticeRoutes()...)
	rs = append(rs, s.formRoutes()...)
	rs = append(rs, s.bannerRoutes()...)
	rs = append(rs, s.portalRoutes()...)
	rs = append(rs, s.consoleRoutes()...)
	rs = append(rs, s.identityRoutes()...)
	rs = append(rs, s.consoleWorkRoutes()...)
	rs = append(rs, s.consolePageRoutes()...)
	rs = append(rs, s.consoleSegmentRoutes()...)
	rs = append(rs, s.sourceRoutes()...)
	rs = append(rs, s.segmentRoutes()...)
	rs = append(rs, s.loyaltyRoutes()...)
	return append(rs, s.duplicateRoutes()...)
}

// route is one line of the API map.
type route struct {
	Method  string
	Path    string
	Summary string
	Public  bool    // no API key needed
	Query   []param // documented query parameters
	Headers []param // documented request headers
	In      body    // the request body, if any
	// Out holds the documented success answers, the usual one first.
	Out    []answer
	Errors []int        // documented error statuses
	ErrorT reflect.Type // the body of the error statuses (nil: Problem)
	// Redirects are the documented redirect statuses: a Location header and no body.
	Redirects []int
	// Pages marks a route a person's browser calls (a link in a message, a form on a shop's
	// page): when the request asks for HTML, errors are answered as a page a person can read
	// instead of a problem document.
	Pages bool
	// MaxBody is the body limit when it must exceed the server's (--max-body).
	MaxBody int64
	handle  handlerFunc
}

// body is a request or response body: a Go type encoded as JSON, or another media type.
type body struct {
	typ      reflect.Type
	media    string // when not JSON
	optional bool   // a request body that may be left out
	form     bool   // also accepted as application/x-www-form-urlencoded, with the same fields
}

// answer is one documented success status and its body (none when typ and media are unset);
// a 3xx status is a redirect, which names where to go in its Location header.
type answer struct {
	status int
	body
}

// Status is the route's usual success status.
func (rt route) Status() int { return rt.Out[0].status }

type param struct {
	Name, Description, Type string
	Required                bool
}

// option sets one documented property of a route.
type option func(*route)

func newRoute(method, path string, h handlerFunc, opts []option) route {
	rt := route{Method: method, Path: path, handle: h, Summary: summaries[method+" "+path]}
	for _, o := range opts {
		o(&rt)
	}
	return rt
}

func get(path string, h handlerFunc, o ...option) route     { return newRoute("GET", path, h, o) }
func post(path string, h handlerFunc, o ...option) route    { return newRoute("POST", path, h, o) }
func put(path string, h handlerFunc, o ...option) route     { return newRoute("PUT", path, h, o) }
func patch(path string, h handlerFunc, o ...option) route   { return newRoute("PATCH", path, h, o) }
func del(path string, h handlerFunc, o ...option) route     { return newRoute("DELETE", path, h, o) }
func options(path string, h handlerFunc, o ...option) route { return newRoute("OPTIONS", path, h, o) }

// public marks a route that needs no API key.
func public(rt *route) { rt.Public = true }

// in is the JSON request body, decoded into T.
func in[T any]() option {
	return func(rt *route) { rt.In = body{typ: reflect.TypeFor[T]()} }
}

// optionalIn is a JSON request body that may be left out.
func optionalIn[T any]() option {
	return func(rt *route) { rt.In = body{typ: reflect.TypeFor[T](), optional: true} }
}

// inOrForm is a request body decoded into T from JSON or, as an HTML form posts it, from
// application/x-www-form-urlencoded fields of the same names.
func inOrForm[T any]() option {
	return func(rt *route) { rt.In = body{typ: reflect.TypeFor[T](), form: true} }
}

// inMedia is a request body of another media type, read raw.
func inMedia(media string) option {
	return func(rt *route) { rt.In = body{media: media} }
}

// out is a success answer whose JSON body is a T.
func out[T any](status int) option {
	return func(rt *route) { rt.Out = append(rt.Out, answer{status, body{typ: reflect.TypeFor[T]()}}) }
}

// redirect is a redirect answer (3xx, with a Location header) whose JSON body is a T.
func redirect[T any](status int) option {
	return func(rt *route) {
		rt.Out = append(rt.Out, answer{status, body{typ: reflect.TypeFor[T]()}})
	}
}

// outMedia is a success answer of another media type.
func outMedia(media string, status int) option {
	return func(rt *route) { rt.Out = append(rt.Out, answer{status, body{media: media}}) }
}

// outAny is a success answer with any JSON object for a body (the document itself).
func outAny(status int) option {
	return func(rt *route) { rt.Out = append(rt.Out, answer{status, body{media: "application/json"}}) }
}

// redirects documents redirect statuses (3xx with a Location header, no body).
func redirects(codes ...int) option {
	return func(rt *route) { rt.Redirects = append(rt.Redirects, codes...) }
}

// pages marks a route whose errors a browser gets as HTML pages (route.Pages).
func pages(rt *route) { rt.Pages = true }

// noBody is a success answer without a body.
func noBody(status int) option {
	return func(rt *route) { rt.Out = append(rt.Out, answer{status: status}) }
}

// errs documents error statuses; authenticated routes also document 401 and 500.
func errs(codes ...int) option {
	return func(rt *route) { rt.Errors = append(rt.Errors, codes...) }
}

// errorsAs documents error statuses whose body is an E instead of a problem.
func errorsAs[E any](codes ...int) option {
	return func(rt *route) { rt.Errors, rt.ErrorT = append(rt.Errors, codes...), reflect.TypeFor[E]() }
}

func query(ps ...param) option  { return func(rt *route) { rt.Query = append(rt.Query, ps...) } }
func header(ps ...param) option { return func(rt *route) { rt.Headers = append(rt.Headers, ps...) } }
func summary(s string) option   { return func(rt *route) { rt.Summary = s } }
func maxBody(n int64) option    { return func(rt *route) { rt.MaxBody = n } }

// commonErrors are documented on every authenticated route: a missing or wrong key, an address
// refused after too many failed authentications (limits.go), and the internal error.
var commonErrors = []int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusInternalServerError}

// Routes lists every served method and pattern, for tests that hold the API map to its
// documentation.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	for _, rt := range s.routes() {
		out = append(out, [2]string{rt.Method, rt.Path})
	}
	return out
}
