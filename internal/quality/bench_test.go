package quality

import (
	"net/mail"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
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

// BenchmarkValidationThroughput validates one e-mail address and one phone number per op
// on every core, as a bulk import or a scan does, and reports validations per second (each
// address and each number counts one) against a baseline measured in the same run: the
// standard library's net/mail parser and libphonenumber's parser alone, which check
// syntax and nothing else (no grade, IDNA, lists, typos, numbering plans or line types).
func BenchmarkValidationThroughput(b *testing.B) {
	b.ReportAllocs()
	rate := func(op func(i int)) float64 {
		const n = 20000
		start := time.Now()
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += workers {
					op(i)
				}
			}(w)
		}
		wg.Wait()
		return 2 * n / time.Since(start).Seconds()
	}
	ours := func(i int) {
		ValidateEmail(benchEmails[i%len(benchEmails)])
		p := benchPhones[i%len(benchPhones)]
		ValidatePhone(p[0], p[1])
	}
	plain := func(i int) {
		_, _ = mail.ParseAddress(benchEmails[i%len(benchEmails)])
		p := benchPhones[i%len(benchPhones)]
		_, _ = phonenumbers.Parse(p[0], p[1])
	}
	rate(ours) // warm the caches and the metadata
	var got, base float64
	for b.Loop() {
		got, base = rate(ours), rate(plain)
	}
	b.ReportMetric(got, "validations/s")
	b.ReportMetric(base, "plain_parses/s")
	b.ReportMetric(got/base, "ratio")
}
