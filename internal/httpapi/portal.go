package httpapi

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/stewardhq/steward/internal/problem"
)

// The privacy portal's routes are called by people's browsers, not only by programs: a link
// in a message, a plain HTML form on a shop's own site, a script on that site. This file holds
// what that needs: CORS for configured origins, form bodies, and HTML pages for answers and
// errors.

// allowOrigin lets a script on one of the configured origins (a shop's own pages) read the
// answer, and reports whether it did. The origin is echoed, never "*", and credentials are
// never allowed: the portal needs no cookies, and a wildcard would let any site drive it.
// With no origin configured, no CORS header is sent at all.
func (s *Server) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	if len(s.PrivacyOrigins) == 0 {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.ContainsFunc(s.PrivacyOrigins, func(o string) bool { return strings.EqualFold(o, origin) }) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	return true
}

// privacyPreflight answers a browser's CORS preflight for POST /v1/privacy/requests (a script
// sending JSON needs one). A configured origin may POST with a Content-Type header; any other
// gets 204 without CORS headers, which the browser reads as a refusal.
func (s *Server) privacyPreflight(w http.ResponseWriter, r *http.Request) error {
	if s.allowOrigin(w, r) {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

const formMedia = "application/x-www-form-urlencoded"

// isForm reports whether the body is form-encoded, as a plain HTML form posts it.
func isForm(r *http.Request) bool {
	media, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(media), formMedia)
}

// decodeJSONOrForm decodes the JSON body of a route that also takes forms, so that a wrong
// Content-Type names both media types it accepts.
func decodeJSONOrForm(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return badRequest{problem.InvalidField("Content-Type", "must be application/json or %s", formMedia)}
	}
	return decode(r, v)
}

// formFields reads a form-encoded body as strictly as decode reads JSON: every field must be
// one of names and given once; a field left empty counts as not given.
func formFields(r *http.Request, names ...string) (map[string]string, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, badRequest{problem.InvalidField("body", "could not be read")}
	}
	vals, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, badRequest{problem.InvalidField("body", "malformed form")}
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(vals))
	for _, k := range keys {
		if !slices.Contains(names, k) {
			return nil, badRequest{problem.InvalidField(k, "is not a known field; known: %s", strings.Join(names, ", "))}
		}
		if len(vals[k]) != 1 {
			return nil, badRequest{problem.InvalidField(k, "is given more than once")}
		}
		out[k] = vals[k][0]
	}
	return out, nil
}

// wantsPage reports whether the caller asked for HTML by name, as a browser does when it
// follows a link or submits a form; scripts (fetch sends */*) and API clients do not.
func wantsPage(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		media, _, _ := strings.Cut(part, ";")
		if m := strings.ToLower(strings.TrimSpace(media)); m == "text/html" || m == "application/xhtml+xml" {
			return true
		}
	}
	return false
}

// seeOther sends a browser on to path with a GET (Post/Redirect/Get: reloading the page it
// lands on does not post the form again).
func seeOther(w http.ResponseWriter, path string) error {
	w.Header().Set("Location", path)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// page is a short HTML page for a person: a heading and a few paragraphs.
type page struct {
	Title string
	Lines []string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><main><h1>{{.Title}}</h1>
{{range .Lines}}<p>{{.}}</p>
{{end}}</main></body></html>
`))

func writePage(w http.ResponseWriter, status int, p page) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return pageTemplate.Execute(w, p)
}

// pageTitles head the error pages by status; the problem's detail follows.
var pageTitles = map[int]string{
	http.StatusBadRequest:            "Something is missing or not right",
	http.StatusUnprocessableEntity:   "Something is missing or not right",
	http.StatusGone:                  "This link no longer works",
	http.StatusRequestEntityTooLarge: "That was too much to send",
	http.StatusServiceUnavailable:    "Please try again later",
	http.StatusTooManyRequests:       "Please try again later",
}

// writeErrorPage answers an error to a browser with the same status and detail as the
// problem document would carry, and the request id to quote to support.
func (s *Server) writeErrorPage(w http.ResponseWriter, r *http.Request, rid string, err error) {
	p := s.problemOf(r, rid, err)
	title, ok := pageTitles[p.Status]
	if !ok {
		title = "Something went wrong"
	}
	_ = writePage(w, p.Status, page{Title: title, Lines: []string{p.Detail, "Reference: " + rid}})
}
