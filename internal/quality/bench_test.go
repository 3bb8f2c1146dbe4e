package quality

import (
	"testing"
)

// A mix shaped like a CRM import: mostly clean addresses, some case and blank noise,
// international ones, typos and junk.
var benchEmails = []string{
	"jane.doe@example.com",
	"John.Smith@Example.co.uk",
	" alice+news@gmail.com ",
	"bob@gmial.com",
	"info@acme-widgets.de",
	"user@bücher.example",
	"not an address",
	"carol@mailinator.com",
	"dave@sub.domain.example.org",
	"\"quoted\"@example.com",
}

var benchPhones = [][2]string{
	{"+44 20 7946 0958", "GB"},
	{"07400 123456", "GB"},
	{"(202) 555-0143", "US"},
	{"01512 3456789", "DE"},
	{"06 12 34 56 78", "FR"},
	{"0412 345 678", "AU"},
	{"12345", "GB"},
	{"+1 650-253-0000", ""},
}

func BenchmarkValidateEmail(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ValidateEmail(benchEmails[i%len(benchEmails)])
		i++
	}
}

func BenchmarkValidatePhone(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := benchPhones[i%len(benchPhones)]
		ValidatePhone(p[0], p[1])
		i++
	}
}

// BenchmarkValidateContactParallel validates one e-mail and one phone per op on every
// core, which is what a bulk import does; ops/s = 1e9 / ns/op.
func BenchmarkValidateContactParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ValidateEmail(benchEmails[i%len(benchEmails)])
			p := benchPhones[i%len(benchPhones)]
			ValidatePhone(p[0], p[1])
			i++
		}
	})
}
