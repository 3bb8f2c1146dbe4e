package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// JobKind is the job that runs an uploaded import.
const JobKind = "customers.import"

// Audit actions of uploaded imports (each batch also writes ingest.ActionImport).
const ActionImportStart = "customers.import.start"

// ActionRejectsRead is the audit action of reading an import's reject list (row numbers and
// reasons, which say whose rows were refused and why).
const ActionRejectsRead = "customers.import.rejects"

// Spec is what an upload asks for: the same choices as the command line's flags.
type Spec struct {
	Map           []string `json:"map"`               // COLUMN=FIELD, as --map
	Consent       []string `json:"consent,omitempty"` // COLUMN=PURPOSE, as --consent
	PolicyVersion string   `json:"policy_version,omitempty"`
	// Batch is how many rows go in one transaction, as --batch (0: the default, 5,000).
	Batch int `json:"batch,omitempty"`
}

// MaxBatch bounds Spec.Batch: larger transactions hold the writer too long.
const MaxBatch = 5000

// Import is an uploaded import as stored: who started it, what it asked for, and the wrapped
// key of its spooled file. It holds no personal data.
type Import struct {
	ID            string
	ActorID       string
	ActorRole     string
	Spec          Spec
	MasterVersion int
	SpoolKey      []byte
	Size          int64
	RowsTotal     int64
	CreatedAt     time.Time
}

// Reject is one rejected row: its number as a spreadsheet shows it and why, never its values.
type Reject struct {
	Row    int    `json:"row"`
	Reason string `json:"reason"`
}

// Uploads stores uploaded imports and their rejected rows.
type Uploads interface {
	// CreateImport stores imp, queues its job and writes the audit entries, in one transaction.
	CreateImport(ctx context.Context, imp Import, j job.Job, entries []audit.Entry) error
	// GetImport returns NotFound for an unknown id.
	GetImport(ctx context.Context, id string) (Import, error)
	// AddRejects stores rejected rows; a row stored before (a resumed run) is kept as it is.
	AddRejects(ctx context.Context, importID string, rs []Reject) error
	// ListImports returns the newest imports first, at most limit.
	ListImports(ctx context.Context, limit int) ([]Import, error)
	// ListRejects returns rejected rows after row afterRow, in row order.
	ListRejects(ctx context.Context, importID string, afterRow, limit int) ([]Reject, error)
}

// Keys makes and opens the data key an upload is spooled under.
type Keys interface {
	NewDataKey(id string) (*vault.DataKey, vault.WrappedKey, error)
	OpenDataKey(ctx context.Context, id string, w vault.WrappedKey) (*vault.DataKey, error)
}

// Service runs imports uploaded through the API as jobs.
type Service struct {
	uploads  Uploads
	jobs     job.Store
	writer   Store
	ledger   Ledger
	norm     *customer.Normalizer
	catalog  *catalog.Catalog
	keys     Keys
	dir      string
	maxBytes int64
	owner    string
	lease    time.Duration
	log      *slog.Logger
	audit    audit.Store
}

// Deps is what the import service is built from; every field but Log is required.
type Deps struct {
	Uploads Uploads
	Jobs    job.Store
	// Writer stores the rows, as tracking's identify would (the ingest service).
	Writer Store
	// Ledger records the consent columns.
	Ledger  Ledger
	Norm    *customer.Normalizer
	Catalog *catalog.Catalog
	Keys    Keys
	// Dir is where uploads are spooled, sealed, while their job runs (in the data directory).
	Dir string
	// MaxBytes bounds an upload; larger ones are refused with TooLarge and nothing kept.
	MaxBytes int64
	// Owner and Lease are the job runner's, so the job's own checkpoints keep its lease.
	Owner string
	Lease time.Duration
	Log   *slog.Logger
	// Audit records reads of an import's reject list.
	Audit audit.Store
}

// New builds the import service.
func New(d Deps) (*Service, error) {
	if d.Uploads == nil || d.Jobs == nil || d.Writer == nil || d.Ledger == nil || d.Norm == nil || d.Catalog == nil || d.Keys == nil || d.Audit == nil {
		return nil, errors.New("import service: uploads, jobs, writer, consent ledger, normaliser, catalog, keys and audit are required")
	}
	if d.Dir == "" || d.MaxBytes <= 0 || d.Owner == "" || d.Lease <= 0 {
		return nil, errors.New("import service: a spool directory, an upload limit and the runner's owner and lease are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{uploads: d.Uploads, jobs: d.Jobs, writer: d.Writer, ledger: d.Ledger, norm: d.Norm, catalog: d.Catalog, keys: d.Keys,
		dir: d.Dir, maxBytes: d.MaxBytes, owner: d.Owner, lease: d.Lease, log: d.Log, audit: d.Audit}, nil
}

// MaxBytes is the largest upload accepted, for the HTTP adapter's body limit.
func (s *Service) MaxBytes() int64 { return s.maxBytes }

// Status is an import as its callers see it: progress and counts, never personal data.
type Status struct {
	ID            string    `json:"id"`
	State         string    `json:"state"`
	Error         string    `json:"error,omitempty"`
	Bytes         int64     `json:"bytes"`
	RowsTotal     int64     `json:"rows_total"`
	RowsRead      int       `json:"rows_read"`
	Imported      int       `json:"imported"`
	Created       int       `json:"created"`
	Updated       int       `json:"updated"`
	Unchanged     int       `json:"unchanged"`
	Rejected      int       `json:"rejected"`
	Consents      int       `json:"consents_recorded"`
	ResumeAfter   int       `json:"resume_after_row"`
	Map           []string  `json:"map"`
	Consent       []string  `json:"consent,omitempty"`
	PolicyVersion string    `json:"policy_version,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// FileError is an upload that cannot be read as a CSV file (empty, UTF-16, broken quoting, a
// header that is not UTF-8): the request is malformed rather than merely breaking a rule.
type FileError struct{ Err *problem.Error }

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

func fileError(format string, args ...any) error {
	return &FileError{problem.InvalidField("body", format, args...)}
}

func (s *Service) spoolPath(id string) string { return filepath.Join(s.dir, id+".csv.sealed") }

// Start spools an upload, checks it through to its last row and queues its import job. Bad
// uploads — empty, not UTF-8, broken quoting, an unknown column, field or purpose, a policy
// version that does not fit, larger than MaxBytes — are refused here, before anything is
// stored. Needs customers.write, and consents.write with consent columns.
func (s *Service) Start(ctx context.Context, spec Spec, body io.Reader) (Status, error) {
	a, err := authz.Require(ctx, s.catalog, "customers.write")
	if err != nil {
		return Status{}, err
	}
	if len(spec.Map) == 0 {
		return Status{}, problem.InvalidField("map", "is required: give COLUMN=FIELD once per mapped column")
	}
	if spec.Batch < 0 || spec.Batch > MaxBatch {
		return Status{}, problem.InvalidField("batch", "must be 1 to %d", MaxBatch)
	}
	if len(spec.Consent) > 0 || spec.PolicyVersion != "" {
		if len(spec.Consent) == 0 {
			return Status{}, problem.InvalidField("policy_version", "is only meaningful with consent columns")
		}
	}
	id := ident.New()
	dk, wrapped, err := s.keys.NewDataKey(spoolSubject(id))
	if err != nil {
		return Status{}, problem.Wrap(problem.Internal, err, "spool key unavailable")
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return Status{}, problem.Wrap(problem.Internal, err, "spool directory unavailable")
	}
	path := s.spoolPath(id)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Status{}, problem.Wrap(problem.Internal, err, "spool file unavailable")
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(path)
		}
	}()
	sw := newSpoolWriter(f, dk, id)
	in := &bodyReader{r: io.LimitReader(body, s.maxBytes+1)}
	n, err := io.Copy(sw, in)
	if err == nil {
		err = sw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if in.err != nil {
		// Too large for the server's own limit (413) or cut short by the client.
		return Status{}, problem.Wrap(problem.Invalid, in.err, "body: the upload could not be read to its end")
	}
	if err != nil {
		return Status{}, problem.Wrap(problem.Internal, err, "upload failed")
	}
	if n > s.maxBytes {
		return Status{}, problem.New(problem.TooLarge, "the file is larger than %d bytes (--import-max-bytes)", s.maxBytes)
	}
	if n == 0 {
		return Status{}, fileError("the file is empty: a header row is required")
	}
	rows, err := s.check(ctx, path, dk, id, spec)
	if err != nil {
		return Status{}, err
	}
	imp := Import{ID: id, ActorID: a.ID, ActorRole: a.Role, Spec: spec, MasterVersion: wrapped.MasterVersion, SpoolKey: wrapped.Blob,
		Size: n, RowsTotal: int64(rows), CreatedAt: clock.System()}
	e := audit.New(ctx, ActionImportStart, "", nil, "")
	e.Target = fmt.Sprintf("import:%s rows:%d bytes:%d consent_columns:%d", id, rows, n, len(spec.Consent))
	// The file is spooled on this node only: the job is reserved for this node's runner, for
	// ten leases, so that another node takes it only once this one is gone.
	j := job.Job{ID: id, Kind: JobKind, Total: int64(rows), Owner: s.owner, LeaseUntil: time.Now().Add(10 * s.lease)}
	if err := s.uploads.CreateImport(ctx, imp, j, []audit.Entry{e}); err != nil {
		return Status{}, err
	}
	keep = true
	return s.status(imp, job.Job{ID: id, Kind: JobKind, State: job.Queued, Total: int64(rows), CreatedAt: imp.CreatedAt, UpdatedAt: imp.CreatedAt}), nil
}

func spoolSubject(id string) string { return "import:" + id }

// bodyReader remembers the upload's own read error, to tell it from a failure to spool.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

// check reads a spooled upload through once: the header, the mapping, the consent columns'
// purposes and policy version, and every row's boundaries, so a file that would stop half-way
// is refused before anything is stored. The columns are checked before the policy version, so
// a list whose columns do not fit is told that first. It returns the number of data rows.
func (s *Service) check(ctx context.Context, path string, dk *vault.DataKey, id string, spec Spec) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, problem.Wrap(problem.Internal, err, "spool file unavailable")
	}
	defer f.Close()
	r, err := NewReader(newSpoolReader(f, dk, id))
	if err != nil {
		if errors.Is(err, errSpoolDamaged) {
			return 0, problem.Wrap(problem.Internal, err, "spool file unreadable")
		}
		return 0, fileError("%s", err.Error())
	}
	if _, err := ParseMappings(spec.Map, r.Header, s.catalog); err != nil {
		return 0, problem.InvalidField("map", "%s", strings.TrimPrefix(err.Error(), "--map "))
	}
	cs, err := ParseConsents(spec.Consent, r.Header)
	if err != nil {
		return 0, problem.InvalidField("consent", "%s", strings.TrimPrefix(err.Error(), "--consent "))
	}
	if len(cs) > 0 {
		purposes := make([]string, len(cs))
		for i, c := range cs {
			purposes[i] = c.Purpose
		}
		if err := s.ledger.CheckImport(ctx, purposes, spec.PolicyVersion); err != nil {
			return 0, err
		}
	}
	rows := 0
	for {
		_, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			if errors.Is(err, errSpoolDamaged) {
				return 0, problem.Wrap(problem.Internal, err, "spool file unreadable")
			}
			return 0, fileError("%s; nothing was imported", err.Error())
		}
		rows++
	}
	return rows, nil
}

// Status returns an import's progress. Needs customers.write; NotFound for an unknown id.
func (s *Service) Status(ctx context.Context, id string) (Status, error) {
	imp, err := s.visible(ctx, id)
	if err != nil {
		return Status{}, err
	}
	j, err := s.jobs.GetJob(ctx, id)
	if err != nil {
		return Status{}, err
	}
	return s.status(imp, j), nil
}

// MaxList bounds one listing of imports.
const MaxList = 100

// List returns the newest imports first, at most limit (1 to MaxList): uploads and command-line
// imports alike, since both run as import jobs. Needs customers.write, as reading one does.
func (s *Service) List(ctx context.Context, limit int) ([]Status, error) {
	a, err := authz.Require(ctx, s.catalog, "customers.write")
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxList {
		return nil, problem.InvalidField("limit", "must be 1 to %d", MaxList)
	}
	imps, err := s.uploads.ListImports(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(imps))
	for _, imp := range imps {
		if !s.sees(a, imp) {
			continue
		}
		j, err := s.jobs.GetJob(ctx, imp.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, s.status(imp, j))
	}
	return out, nil
}

func (s *Service) status(imp Import, j job.Job) Status {
	st := Status{ID: imp.ID, State: j.State, Error: j.Error, Bytes: imp.Size, RowsTotal: imp.RowsTotal, Map: imp.Spec.Map,
		Consent: imp.Spec.Consent, PolicyVersion: imp.Spec.PolicyVersion, CreatedAt: imp.CreatedAt, UpdatedAt: j.UpdatedAt}
	var p Stats
	if j.Cursor != "" {
		_ = json.Unmarshal([]byte(j.Cursor), &p)
	}
	st.RowsRead, st.Created, st.Updated, st.Unchanged, st.Rejected, st.Consents, st.ResumeAfter =
		p.Rows, p.Created, p.Updated, p.Unchanged, p.Rejected, p.Consents, p.Committed
	st.Imported = p.Created + p.Updated + p.Unchanged
	if st.Map == nil {
		st.Map = []string{}
	}
	return st
}

// Rejects lists an import's rejected rows after afterRow. Needs customers.write; NotFound for
// an unknown import.
func (s *Service) Rejects(ctx context.Context, id string, afterRow, limit int) ([]Reject, error) {
	if _, err := s.visible(ctx, id); err != nil {
		return nil, err
	}
	if limit < 1 || limit > 10000 {
		return nil, problem.InvalidField("limit", "must be 1 to 10000")
	}
	out, err := s.uploads.ListRejects(ctx, id, afterRow, limit)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Reject{}
	}
	e := audit.QueryEntry(ctx, ActionRejectsRead, "", []string{"import"}, len(out))
	e.Target = "import:" + id + " " + e.Target
	return out, s.audit.AppendAudit(ctx, e)
}

// visible returns the import id names if the caller may see it (see sees); NotFound
// otherwise, the same as for an unknown id.
func (s *Service) visible(ctx context.Context, id string) (Import, error) {
	a, err := authz.Require(ctx, s.catalog, "customers.write")
	if err != nil {
		return Import{}, err
	}
	if !ident.Valid(id) {
		return Import{}, problem.NotFoundf("import not found")
	}
	imp, err := s.uploads.GetImport(ctx, id)
	if err != nil {
		return Import{}, err
	}
	if !s.sees(a, imp) {
		return Import{}, problem.NotFoundf("import not found")
	}
	return imp, nil
}

// sees says whether actor a may see imp: staff who may read customers see every import; a
// write-only key (ingest) only the ones it started, so one shop system cannot read what
// another's files got wrong.
func (s *Service) sees(a authz.Actor, imp Import) bool {
	return s.catalog.RoleHas(a.Role, "customers.read") || imp.ActorID == a.ID
}

// dbRejects keeps a batch's rejected rows until the batch is committed.
type dbRejects struct {
	ctx     context.Context
	uploads Uploads
	id      string
	pending []Reject
}

func (d *dbRejects) Reject(row int, reason string) {
	d.pending = append(d.pending, Reject{Row: row, Reason: reason})
}

func (d *dbRejects) Flush() error {
	if len(d.pending) == 0 {
		return nil
	}
	err := d.uploads.AddRejects(d.ctx, d.id, d.pending)
	d.pending = d.pending[:0]
	return err
}

// Step runs an uploaded import to its end (a job.Step). It checkpoints after every batch,
// which keeps the job's lease, so a node that dies mid-file leaves a resume point another
// run continues from; the spooled upload is deleted when the job ends either way. Failure
// reasons are public: they name rows and rules, never values or internal errors.
func (s *Service) Step(ctx context.Context, j job.Job) (string, int64, error) {
	imp, err := s.uploads.GetImport(ctx, j.ID)
	if err != nil {
		return "", 0, err
	}
	var prev Stats
	if j.Cursor != "" {
		_ = json.Unmarshal([]byte(j.Cursor), &prev)
	}
	ctx = authz.WithActor(ctx, authz.Actor{ID: imp.ActorID, Role: imp.ActorRole})
	path := s.spoolPath(imp.ID)
	st, err := s.run(ctx, imp, j, prev, path)
	if err != nil {
		if ctx.Err() != nil {
			return "", 0, ctx.Err() // stopped: the lease runs out and the job resumes
		}
		_ = os.Remove(path)
		return "", int64(st.Rows), s.publicError(imp.ID, err, max(prev.Committed, st.Committed))
	}
	_ = os.Remove(path)
	return "", int64(st.Rows), nil
}

func (s *Service) run(ctx context.Context, imp Import, j job.Job, prev Stats, path string) (Stats, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Stats{Committed: prev.Committed}, problem.New(problem.Unavailable,
			"the uploaded file is no longer on the node running the import (it is kept only where it was received, until its job ends)")
	}
	if err != nil {
		return Stats{Committed: prev.Committed}, err
	}
	defer f.Close()
	dk, err := s.keys.OpenDataKey(ctx, spoolSubject(imp.ID), vault.WrappedKey{MasterVersion: imp.MasterVersion, Blob: imp.SpoolKey})
	if err != nil {
		return Stats{Committed: prev.Committed}, err
	}
	r, err := NewReader(newSpoolReader(f, dk, imp.ID))
	if err != nil {
		return Stats{Committed: prev.Committed}, err
	}
	ms, err := ParseMappings(imp.Spec.Map, r.Header, s.catalog)
	if err != nil {
		return Stats{Committed: prev.Committed}, problem.InvalidField("map", "%s", err.Error())
	}
	cs, err := ParseConsents(imp.Spec.Consent, r.Header)
	if err != nil {
		return Stats{Committed: prev.Committed}, problem.InvalidField("consent", "%s", err.Error())
	}
	lease := s.lease
	if lease <= 0 {
		lease = time.Minute
	}
	rej := &dbRejects{ctx: ctx, uploads: s.uploads, id: imp.ID}
	watch, _ := ctx.Value(progressKey{}).(func(Status))
	st, err := Run(ctx, r, ms, s.norm, s.writer, rej, Options{KeyID: imp.ActorID, StartAfter: prev.Committed, BatchSize: imp.Spec.Batch,
		Consents: cs, PolicyVersion: imp.Spec.PolicyVersion, Ledger: s.ledger,
		Progress: func(row int, st Stats) error {
			total := add(prev, st)
			b, _ := json.Marshal(total)
			if err := s.jobs.CheckpointJob(ctx, imp.ID, s.owner, string(b), int64(total.Rows), time.Now().Add(lease)); err != nil {
				return err
			}
			if watch != nil {
				watch(s.status(imp, job.Job{ID: imp.ID, Kind: JobKind, State: job.Running, Cursor: string(b), Done: int64(total.Rows),
					Total: imp.RowsTotal, CreatedAt: imp.CreatedAt, UpdatedAt: time.Now()}))
			}
			return nil
		}})
	return st, err
}

// add sums the counts of an earlier run and its continuation.
func add(prev, st Stats) Stats {
	return Stats{Rows: prev.Rows + st.Rows, Rejected: prev.Rejected + st.Rejected, Created: prev.Created + st.Created,
		Updated: prev.Updated + st.Updated, Unchanged: prev.Unchanged + st.Unchanged, Consents: prev.Consents + st.Consents,
		Committed: max(prev.Committed, st.Committed)}
}

// publicError is the reason a failed import shows its callers: the rule or row for input
// problems, a generic line (with the cause in the log) for everything else.
func (s *Service) publicError(id string, err error, committed int) error {
	var msg string
	switch {
	case problem.KindOf(err) != problem.Internal:
		msg = problem.Detail(err)
	case strings.HasPrefix(err.Error(), "row "):
		msg = err.Error() // the reader's own errors name the row and the rule
	default:
		msg = "internal error"
		s.log.Error("import failed", "import_id", id, "err", err)
	}
	return fmt.Errorf("%s; rows up to %d are stored; import the file again to finish (re-running changes nothing already imported)", msg, committed)
}

type progressKey struct{}

// WithProgress returns a context under which an import job run in this process reports its
// progress to fn after every committed batch, as the job's checkpoint records it. The command
// line draws its progress bar from it while it runs its own import job; like
// net/http/httptrace's hooks, it observes a run without changing it.
func WithProgress(ctx context.Context, fn func(Status)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Sweep deletes spooled uploads whose job has ended or is unknown (a crash between spooling and
// queuing, say) and that are older than an hour, so no upload outlives its import.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".csv.sealed")
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < time.Hour {
			continue
		}
		j, err := s.jobs.GetJob(ctx, id)
		if err == nil && (j.State == job.Queued || j.State == job.Running) {
			continue
		}
		if err != nil && !problem.Is(err, problem.NotFound) {
			return n, err
		}
		if os.Remove(filepath.Join(s.dir, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}
