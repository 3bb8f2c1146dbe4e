// Package importer reads customer spreadsheets (CSV exported from tills and old CRMs) and
// turns each row into catalog values: UTF-8 with or without a byte-order mark, comma,
// semicolon or tab detected, quoted fields, several columns joined into one field. It owns
// the rules for what makes a row acceptable; every rejected row is reported with its row
// number and a reason that names the column or field but never repeats the value.
package importer
