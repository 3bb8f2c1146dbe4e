// Package search finds customers from what a person types into one box — names in any order
// and with typos or nicknames, a town or postal code, part of an e-mail address, the last
// digits of a phone number, a customer, member or order number — without profiles being
// stored in clear.
//
// It owns three pure steps, and no I/O:
//
//  1. Terms: what a profile is findable by (Index) and what a query asks for (Parse, Query.Terms),
//     as typed, normalised strings. The two sides use the same normalisation, the matcher's.
//  2. Tokens: a term becomes a search token by a keyed hash the caller supplies (derived per
//     token kind from the index key), truncated to the kind's width (Kinds) and tagged with the
//     kind. Engines store only these tokens beside the sealed profile: the widths are chosen
//     so that a token narrows a search to a few hundred candidates at most while many values
//     share each token, and the leakage of each kind is documented in docs/security.md.
//  3. Ranking: candidates fetched by token are weighed by how rare each token is (Candidates),
//     then opened by the caller and scored on their values with the matcher's comparisons
//     (Score): Jaro–Winkler, edit distance, Soundex and the nickname groups.
//
// Invariants: a token depends only on the kind and the normalised term, so profiles and queries
// meet; nothing here logs or returns a query's text; a query's kinds, never its terms, are what
// callers may record.
package search
