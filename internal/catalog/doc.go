// Package catalog owns Steward's data catalog: "privacy as code", a YAML file that declares the
// purposes personal data is processed for (with their legal basis and whether Global Privacy
// Control opts out of them), the categories data falls into, every customer field (type,
// sensitivity, allowed purposes, retention, blind index, mask, generalisation, length) and the
// roles that act for purposes and hold permissions. A default catalog is embedded in the binary;
// an owner may replace it with their own file.
//
// The package only describes policy; it enforces nothing itself. The vault, the API and the
// retention sweeper read the catalog to decide what to encrypt, index, mask, show and delete.
// Keeping the policy in one validated file means access can be reviewed by reading it, and the
// code that enforces it never has to guess.
//
// Invariants:
//   - A *Catalog exists only if its file passed every check: names are unique and well formed,
//     every reference (category, purpose, permission) resolves, every word comes from the
//     closed vocabularies in this package, and masks, generalisers and indexes suit the field
//     type. A broken file yields a *ValidationError listing file:line problems, never a
//     partially loaded catalog.
//   - Every catalog has an "owner" role holding every permission, so no edit can lock the owner
//     out.
//   - Every field has at least one purpose and a retention; sensitive fields are always masked;
//     gpc_opt_out appears only on consent purposes; a field with identifier or sensitive data
//     offered to a generalized_only purpose declares a generaliser.
//   - Permissions and purposes are separate: seeing a value in clear needs customers.reveal
//     and a purpose the field allows. Lookups of unknown roles, purposes or permissions answer
//     "no", so a typo fails closed.
//   - A Catalog is read-only once built and safe to share between goroutines.
//
// The package is a domain leaf: it imports only the standard library and gopkg.in/yaml.v3.
package catalog
