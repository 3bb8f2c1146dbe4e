package segment

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
)

// Export is an audience export of a segment: the members allowed for its purpose when the
// export ran. The list holds customer ids only; the file is made from the vault when it is
// downloaded, with the fields the catalog declares for the purpose.
type Export struct {
	ID        string    `json:"id"`
	SegmentID string    `json:"segment_id"`
	Purpose   string    `json:"purpose"`
	State     string    `json:"state"`
	Members   int64     `json:"members"`
	Allowed   int64     `json:"allowed"`
	Denied    int64     `json:"denied"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// DownloadURL is shown once, when the export is created; it works once the export is
	// done and until it expires.
	DownloadURL string `json:"download_url,omitempty"`
	TokenHash   []byte `json:"-"`
	Actor       string `json:"-"`
}

// ExportStore keeps exports and their lists of allowed members.
type ExportStore interface {
	CreateExport(ctx context.Context, e Export, entries []audit.Entry) error
	// GetExport returns one export; NotFound if there is none or it expired and was purged.
	GetExport(ctx context.Context, id string) (Export, error)
	// AddExportMembers appends allowed customer ids and adds to the counts, idempotently for
	// a repeated step (ids already listed are skipped).
	AddExportMembers(ctx context.Context, id string, allowed []string, members, denied int64) error
	FinishExport(ctx context.Context, id, state string, entries []audit.Entry) error
	// ExportMembers pages the listed customer ids in the order they were listed.
	ExportMembers(ctx context.Context, id, after string, limit int) ([]string, error)
	// PurgeExports deletes exports that expired before now, with their lists.
	PurgeExports(ctx context.Context, now time.Time) (int64, error)
}

// Profiles shows customers as a purpose may see them; implemented over the vault.
type Profiles interface {
	// Present returns, for each of ids, the values of fields in the form purpose sees them
	// (generalised for a generalized_only purpose); nil for a customer that no longer
	// exists.
	Present(ctx context.Context, ids []string, purpose string, fields []string) ([]map[string]any, error)
	// Masked returns each of ids as masked values, as a listing shows them.
	Masked(ctx context.Context, ids []string) ([]map[string]any, error)
}

// Decider is the permission decision for many customers at once.
type Decider interface {
	// Decide answers purposes for ids: out[i][j] is purposes[i] for ids[j].
	Decide(ctx context.Context, ids []string, purposes []string) ([][]bool, error)
}

// ExportTTL is how long an export's download link works.
const ExportTTL = 24 * time.Hour

// Export states.
const (
	ExportQueued  = "queued"
	ExportRunning = "running"
	ExportDone    = "done"
	ExportFailed  = "failed"
)

// Audit actions of exports.
const (
	ActionExport         = "segment.export"
	ActionExportDownload = "segment.export.download"
)

// StartExport queues an export of a segment's members. Needs customers.reveal and a role that
// acts for the segment's purpose: the file shows values.
func (s *Service) StartExport(ctx context.Context, segmentID string) (Export, error) {
	seg, err := s.Get(ctx, segmentID)
	if err != nil {
		return Export{}, err
	}
	a, err := authz.MayReveal(ctx, s.catalog, seg.Purpose)
	if err != nil {
		return Export{}, err
	}
	if p, _ := s.catalog.Purpose(seg.Purpose); p.GeneralizedOnly {
		return Export{}, problem.Forbiddenf("segments for purpose %q are counted, never exported", seg.Purpose)
	}
	token := randomHex(32)
	now := s.now().UTC()
	e := Export{ID: ident.New(), SegmentID: seg.ID, Purpose: seg.Purpose, State: ExportQueued, CreatedAt: now,
		ExpiresAt: now.Add(ExportTTL), TokenHash: hashToken(token), Actor: a.ID}
	en := audit.New(ctx, ActionExport, "", nil, seg.Purpose)
	en.Target = "segment:" + seg.ID + " export:" + e.ID + " state:queued"
	if err := s.exports.CreateExport(ctx, e, []audit.Entry{en}); err != nil {
		return Export{}, err
	}
	if err := s.jobs.CreateJob(ctx, job.Job{ID: e.ID, Kind: ExportJob}); err != nil {
		return Export{}, err
	}
	e.DownloadURL = s.publicURL + "/v1/segment-exports/" + e.ID + "/download?token=" + token
	return e, nil
}

// GetExport shows an export's progress.
func (s *Service) GetExport(ctx context.Context, segmentID, id string) (Export, error) {
	seg, err := s.Get(ctx, segmentID)
	if err != nil {
		return Export{}, err
	}
	if !ident.Valid(id) {
		return Export{}, problem.NotFoundf("export not found")
	}
	e, err := s.exports.GetExport(ctx, id)
	if err != nil {
		return Export{}, err
	}
	if e.SegmentID != seg.ID {
		return Export{}, problem.NotFoundf("export not found")
	}
	if e.State != ExportDone {
		// The job's own state tells of a failure the export's row cannot record.
		if j, err := s.jobs.GetJob(ctx, e.ID); err == nil && j.State == job.Failed {
			e.State = ExportFailed
		}
	}
	return e, nil
}

// exportBatch is how many members one export step decides.
const exportBatch = 1000

// ExportStep lists the next batch of members the permission decision allows for the
// segment's purpose now (the suppression list included); the last step finishes the export
// and audits it with its counts.
func (s *Service) ExportStep(ctx context.Context, j job.Job) (string, int64, error) {
	e, err := s.exports.GetExport(ctx, j.ID)
	if err != nil {
		return "", 0, err
	}
	ids, err := s.store.Members(ctx, e.SegmentID, j.Cursor, exportBatch)
	if err != nil {
		return j.Cursor, 0, err
	}
	if len(ids) == 0 {
		e, err = s.exports.GetExport(ctx, j.ID)
		if err != nil {
			return "", 0, err
		}
		en := audit.New(ctx, ActionExport, "", nil, e.Purpose)
		en.ActorID = e.Actor
		en.Target = "segment:" + e.SegmentID + " export:" + e.ID + " members:" + itoa(e.Members) + " allowed:" + itoa(e.Allowed) + " denied:" + itoa(e.Denied)
		return "", 0, s.exports.FinishExport(ctx, e.ID, ExportDone, []audit.Entry{en})
	}
	ds, err := s.decider.Decide(ctx, ids, []string{e.Purpose})
	if err != nil {
		return j.Cursor, 0, err
	}
	allowed := make([]string, 0, len(ids))
	for i, id := range ids {
		if ds[0][i] {
			allowed = append(allowed, id)
		}
	}
	if err := s.exports.AddExportMembers(ctx, e.ID, allowed, int64(len(ids)), int64(len(ids)-len(allowed))); err != nil {
		return j.Cursor, 0, err
	}
	return ids[len(ids)-1], int64(len(ids)), nil
}

// Download writes an export's file through row, one CSV row at a time (the header first):
// the customer id and the fields the catalog declares for the purpose, in the form it sees
// them. The token proves the link; an expired export is Gone. Every customer written is
// audited as a reveal for the purpose. Customers erased since the export ran, or no longer
// allowed for the purpose, are left out.
func (s *Service) Download(ctx context.Context, id, token string, row func([]string) error) error {
	if !ident.Valid(id) {
		return problem.NotFoundf("export not found")
	}
	e, err := s.exports.GetExport(ctx, id)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(hashToken(token), e.TokenHash) != 1 {
		return problem.NotFoundf("export not found")
	}
	if !s.now().Before(e.ExpiresAt) {
		return problem.Gonef("this export expired at %s", e.ExpiresAt.Format(time.RFC3339))
	}
	if e.State != ExportDone {
		return problem.Conflictf("the export is %s; download it once it is done", e.State)
	}
	fields := s.fieldsFor(e.Purpose)
	if err := row(append([]string{"customer_id"}, fields...)); err != nil {
		return err
	}
	after := ""
	for {
		ids, err := s.exports.ExportMembers(ctx, e.ID, after, 500)
		if err != nil || len(ids) == 0 {
			return err
		}
		// The download is when the data leaves: the decision is asked again, and a customer
		// who withdrew since the export ran is left out.
		ds, err := s.decider.Decide(ctx, ids, []string{e.Purpose})
		if err != nil {
			return err
		}
		views, err := s.profiles.Present(ctx, ids, e.Purpose, fields)
		if err != nil {
			return err
		}
		entries := make([]audit.Entry, 0, len(ids))
		for i, v := range views {
			if v == nil || !ds[0][i] {
				continue
			}
			line := []string{ids[i]}
			shown := []string{}
			for _, f := range fields {
				val, ok := v[f]
				line = append(line, cellText(val, ok))
				if ok {
					shown = append(shown, f)
				}
			}
			if err := row(line); err != nil {
				return err
			}
			// The link carries no key: the download is the act of whoever made the export.
			en := audit.New(ctx, ActionExportDownload, ids[i], shown, e.Purpose)
			en.ActorID, en.ActorRole = e.Actor, "export_link"
			en.Target = "export:" + e.ID
			entries = append(entries, en)
		}
		if len(entries) > 0 {
			if err := s.audit.AppendAudit(ctx, entries...); err != nil {
				return err
			}
		}
		after = ids[len(ids)-1]
	}
}

// fieldsFor lists the fields an export for purpose carries: those the catalog declares for
// it, except ones whose generalised form withholds them.
func (s *Service) fieldsFor(purpose string) []string {
	p, _ := s.catalog.Purpose(purpose)
	var out []string
	for _, f := range s.catalog.FieldsFor(purpose) {
		if p.GeneralizedOnly && f.Generalize == catalog.GeneralizeCityRegionCountry {
			continue
		}
		out = append(out, f.Name)
	}
	return out
}

// PurgeExports deletes expired exports; the serve loop calls it.
func (s *Service) PurgeExports(ctx context.Context) (int64, error) {
	return s.exports.PurgeExports(ctx, s.now())
}

func cellText(v any, ok bool) string {
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	if n, ok := number(v); ok {
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
