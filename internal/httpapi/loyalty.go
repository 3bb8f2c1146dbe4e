package httpapi

import (
	"html/template"
	"net/http"
	"reflect"
	"strconv"

	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/offer"
	"github.com/stewardhq/steward/internal/portal"
	"github.com/stewardhq/steward/internal/problem"
)

// MemberList is the answer of a member look-up at the till.
type MemberList struct {
	Data []loyalty.Member `json:"data"`
}

// OfferList is the offer catalogue.
type OfferList struct {
	Data []offer.Offer `json:"data"`
}

// UpliftList is each offer's measured uplift.
type UpliftList struct {
	Data []offer.Uplift `json:"data"`
}

var (
	statementQuery = []param{
		{Name: "limit", Type: "integer", Description: "Statement entries, 1 to 1000 (default 50)."},
		{Name: "before", Type: "integer", Description: "Only entries with ids below this (next_before of the previous page)."},
	}
	memberQuery = []param{
		{Name: "member_number", Type: "string", Description: "Exact look-up by member number (its check digit is verified first)."},
		{Name: "phone", Type: "string", Description: "Exact look-up by phone (normalised to E.164)."},
		{Name: "email", Type: "string", Description: "Exact look-up by e-mail (normalised)."},
	}
)

// loyaltyRoutes serve the loyalty programme and the offers: tills find members, read and
// redeem their points; staff adjust; marketers write offers and read their uplift.
func (s *Server) loyaltyRoutes() []route {
	return []route{
		get("/v1/customers/{id}/loyalty", s.getLoyalty, query(statementQuery...), out[loyalty.Summary](200), errs(403, 404, 410, 422)),
		post("/v1/customers/{id}/loyalty", s.enrol, out[loyalty.Account](200), errs(403, 404, 410, 422)),
		post("/v1/customers/{id}/loyalty/redemptions", s.redeemPoints, in[loyalty.RedeemInput](), out[loyalty.Redemption](201),
			out[loyalty.Redemption](200), errs(400, 403, 404, 409, 410, 413, 422)),
		post("/v1/customers/{id}/loyalty/adjustments", s.adjustPoints, in[loyalty.AdjustInput](), out[loyalty.Entry](201),
			errs(400, 403, 404, 409, 410, 413, 422)),
		post("/v1/customers/{id}/loyalty/events", s.loyaltyEvent, in[loyalty.EventInput](), out[loyalty.Entry](201),
			errs(400, 403, 404, 410, 413, 422)),
		get("/v1/loyalty/members", s.findMembers, query(memberQuery...), out[MemberList](200), errs(403, 422)),
		post("/v1/offers", s.createOffer, in[offer.Offer](), out[offer.Offer](201), errs(400, 403, 413, 422)),
		get("/v1/offers", s.listOffers, out[OfferList](200), errs(403)),
		get("/v1/offers/report", s.offerReport, out[UpliftList](200), errs(403)),
		get("/v1/customers/{id}/offers", s.customerOffers, out[offer.Decision](200), errs(403, 404, 422)),
		post("/v1/customers/{id}/offers/{code}/redemptions", s.redeemOffer, in[offer.RedemptionInput](), out[offer.Redemption](201),
			errs(400, 403, 404, 409, 413, 422)),
	}
}

func (s *Server) getLoyalty(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		return err
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return problem.InvalidField("before", "must be a positive entry id")
		}
	}
	sum, err := s.Loyalty.Get(r.Context(), r.PathValue("id"), before, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sum)
}

func (s *Server) enrol(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.Loyalty.Enrol(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, acc)
}

// redeemPoints answers 201 for a new redemption and 200 for a replay of the same
// idempotency key.
func (s *Server) redeemPoints(w http.ResponseWriter, r *http.Request) error {
	var in loyalty.RedeemInput
	if err := decode(r, &in); err != nil {
		return err
	}
	red, err := s.Loyalty.Redeem(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if red.Replayed {
		status = http.StatusOK
	}
	return writeJSON(w, status, red)
}

func (s *Server) adjustPoints(w http.ResponseWriter, r *http.Request) error {
	var in loyalty.AdjustInput
	if err := decode(r, &in); err != nil {
		return err
	}
	e, err := s.Loyalty.Adjust(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, e)
}

func (s *Server) loyaltyEvent(w http.ResponseWriter, r *http.Request) error {
	var in loyalty.EventInput
	if err := decode(r, &in); err != nil {
		return err
	}
	e, err := s.Loyalty.RecordEvent(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, e)
}

// findMembers takes exactly one of member_number, phone and email.
func (s *Server) findMembers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	by, value := "", ""
	for _, k := range []string{"member_number", "phone", "email"} {
		if v := q.Get(k); v != "" {
			if by != "" {
				return problem.InvalidField(k, "give one of member_number, phone and email")
			}
			by, value = k, v
		}
	}
	if by == "" {
		return problem.InvalidField("member_number", "one of member_number, phone and email is required")
	}
	ms, err := s.Loyalty.Find(r.Context(), by, value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, MemberList{Data: ms})
}

func (s *Server) createOffer(w http.ResponseWriter, r *http.Request) error {
	var in offer.Offer
	if err := decode(r, &in); err != nil {
		return err
	}
	o, err := s.Offers.Create(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, o)
}

func (s *Server) listOffers(w http.ResponseWriter, r *http.Request) error {
	os, err := s.Offers.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, OfferList{Data: os})
}

func (s *Server) offerReport(w http.ResponseWriter, r *http.Request) error {
	us, err := s.Offers.Report(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, UpliftList{Data: us})
}

func (s *Server) customerOffers(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Offers.Offers(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) redeemOffer(w http.ResponseWriter, r *http.Request) error {
	var in offer.RedemptionInput
	if err := decode(r, &in); err != nil {
		return err
	}
	red, err := s.Offers.Redeem(r.Context(), r.PathValue("id"), r.PathValue("code"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, red)
}

func init() {
	for t, name := range map[reflect.Type]string{
		reflect.TypeFor[loyalty.Summary]():    "Loyalty",
		reflect.TypeFor[loyalty.Account]():    "LoyaltyAccount",
		reflect.TypeFor[loyalty.Entry]():      "LedgerEntry",
		reflect.TypeFor[loyalty.Redemption](): "PointsRedemption",
		reflect.TypeFor[loyalty.Member]():     "Member",
		reflect.TypeFor[offer.Decision]():     "OfferDecision",
		reflect.TypeFor[offer.Redemption]():   "OfferRedemption",
		reflect.TypeFor[offer.Uplift]():       "OfferUplift",
	} {
		schemaNames[t] = name
	}
}

// memberCard is the member card section of the privacy portal.
type memberCard struct {
	loyalty.Card
	Number string
	QR     template.HTML
}

// memberCard returns the signed-in customer's member card, or nil when they hold no member
// number or are not a member. The number comes from the data the page already opened for
// them; the card is theirs alone.
func (s *Server) memberCard(r *http.Request, sess portal.Session, o portal.Overview) (*memberCard, error) {
	if s.Loyalty == nil {
		return nil, nil
	}
	var number string
	for _, f := range o.Fields {
		if f.Field == loyalty.MemberNumberField {
			number, _ = f.Value.(string)
		}
	}
	if number == "" {
		return nil, nil
	}
	card, err := s.Loyalty.CardFor(portal.As(r.Context(), sess.CustomerID), sess.CustomerID)
	if problem.Is(err, problem.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	qr, err := qrSVG(number, "QR code of member number "+number)
	if err != nil {
		return nil, err
	}
	return &memberCard{Card: card, Number: number, QR: qr}, nil
}
