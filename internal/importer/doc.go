// Package importer reads customer spreadsheets (CSV exported from tills and old CRMs) and
// turns each row into catalog values and consent choices: UTF-8 with or without a byte-order
// mark, comma, semicolon or tab detected, quoted fields, several columns joined into one
// field, consent columns as yes/no. It owns the rules for what makes a row acceptable; every
// rejected row is reported with its row number and a reason that names the column or field
// but never repeats the value.
//
// Run imports a file for the command line and for uploaded imports alike. Service runs
// uploads as jobs: an upload is spooled sealed under a key of its own (the only copy of the
// file Steward keeps, deleted when its job ends), read through once before anything is
// stored, and imported with a checkpoint after every committed batch, so a job stopped
// mid-file resumes after its last committed row. The package writes customers through
// ingest and consents through the consent ledger; it imports no storage or HTTP code.
package importer
