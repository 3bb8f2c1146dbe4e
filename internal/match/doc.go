// Package match finds the records that describe the same person: Steward's duplicate
// detection, used by the server over customers and by `steward match` over a CSV file.
//
// A run has five steps.
//
//  1. Normalise: every field is put into a canonical form (Normalize), so that case,
//     spacing, diacritics and notation never count as disagreement.
//  2. Block: every record gets a handful of blocking keys (BlockingKeys), and only records
//     that share a key are compared. The keys are pure functions of normalised values, so
//     the server can keep them as keyed hashes beside encrypted data. Blocks are capped:
//     past MaxBlockSize a record is only paired with its neighbours in name order, so one
//     huge block costs n·window comparisons instead of n².
//  3. Compare: each candidate pair gets a graded agreement level per comparison (exact,
//     close by Jaro-Winkler, one edit, transposed names, missing…).
//  4. Score: a Fellegi–Sunter model turns the levels into a match weight, the log2 Bayes
//     factor "same person" against "different people". The m probabilities (how matches
//     agree) are learnt by expectation–maximisation on the candidate pairs of the input
//     itself, without labels, with caps on how often a duplicate may disagree outright;
//     the u probabilities (how strangers agree by chance) are counted on random pairs of
//     the input. Exact agreement on a name, address or town is weighed by how common the
//     value is (term frequencies, from the input or from Config.Terms). Nothing is tuned
//     to a particular data set.
//  5. Households: at one address a shared family name and phone count as far as the data
//     shows families living together, and a pair that shares nothing personal scores at
//     most the household odds learnt from the candidates, never merge-grade (see
//     householdOdds).
//
// A pair's probability is compared with two thresholds: from ReviewThreshold a person
// should look at it, from MergeThreshold it may be merged without review. Every reported
// pair carries its evidence, comparison by comparison, so the reviewer sees why.
//
// Invariants: the package performs no I/O and imports neither storage nor HTTP; no error
// contains a field value; a run is deterministic for a given input and Config, whatever
// the number of workers.
package match
