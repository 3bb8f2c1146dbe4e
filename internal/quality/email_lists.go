package quality

import "strings"

// roleLocals are local parts that name a function rather than a person. They are
// compared after dropping separators, so "no-reply", "no_reply" and "no.reply" all match
// "noreply". The list is deliberately short: a false "role" flag would wrongly demote a
// real person's address.
var roleLocals = setOf(
	"abuse", "accounting", "accounts", "admin", "administrator", "alerts", "billing",
	"bounce", "bounces", "careers", "compliance", "contact", "contactus", "customercare",
	"customerservice", "customersupport", "donotreply", "dpo", "enquiries", "enquiry",
	"feedback", "finance", "gdpr", "hello", "help", "helpdesk", "hostmaster", "hr", "info",
	"inquiries", "inquiry", "invoices", "jobs", "legal", "listserv", "mail", "mailerdaemon",
	"majordomo", "marketing", "media", "news", "newsletter", "noreply", "notifications",
	"office", "orders", "payments", "postmaster", "press", "privacy", "reception",
	"recruitment", "returns", "root", "sales", "security", "service", "support", "sysadmin",
	"team", "techsupport", "unsubscribe", "webmaster",
)

// providers are the big consumer mail domains. A domain on this list is never
// "corrected"; the typo targets among them are the ones worth suggesting.
type provider struct {
	domain string
	// target marks domains worth suggesting. Very short ones (me.com, qq.com) are left
	// out because almost every two-letter .com is within one edit of them.
	target bool
}

var providers = []provider{
	// Ordered by how often they are meant, so a tie goes to the likelier one.
	{"gmail.com", true}, {"yahoo.com", true}, {"hotmail.com", true}, {"outlook.com", true},
	{"icloud.com", true}, {"aol.com", true}, {"googlemail.com", true}, {"hotmail.co.uk", true},
	{"yahoo.co.uk", true}, {"live.com", false}, {"msn.com", false}, {"me.com", false},
	{"mac.com", false}, {"protonmail.com", true}, {"proton.me", false}, {"gmx.com", false},
	{"gmx.de", false}, {"gmx.net", false}, {"web.de", false}, {"mail.com", false},
	{"email.com", false}, {"ymail.com", false}, {"rocketmail.com", true}, {"yandex.ru", true},
	{"mail.ru", false}, {"zoho.com", false}, {"comcast.net", true}, {"verizon.net", true},
	{"sbcglobal.net", true}, {"att.net", false}, {"btinternet.com", true}, {"orange.fr", true},
	{"free.fr", false}, {"t-online.de", true}, {"hotmail.fr", true}, {"yahoo.fr", true},
	{"fastmail.com", true}, {"qq.com", false}, {"163.com", false},
}

var providerSet = func() map[string]bool {
	m := make(map[string]bool, len(providers))
	for _, p := range providers {
		m[p.domain] = true
	}
	return m
}()

// regionalBrands operate the same mailbox service under many country domains
// (yahoo.es, hotmail.it, outlook.de …). A different country ending on one of these names
// is a real domain, not a typo, so it must not be "corrected" to the .com.
var regionalBrands = setOf("yahoo", "hotmail", "outlook", "live", "aol", "gmx", "yandex", "orange")

// typoEndings are endings that are country codes on paper but, after a big provider's
// name, are nearly always a mistyped ".com".
var typoEndings = setOf("co", "cm", "om", "cn")

// tldFixes maps top-level labels that are not delegated in the DNS root, but are one slip
// of the finger from a common one, to the label meant. They are corrected on any domain,
// not only on big providers, because a domain ending in one of them cannot receive mail.
// Real country codes near ".com" (.co, .cm, .om) are deliberately absent: they are only
// corrected after a big provider's name (typoEndings).
var tldFixes = map[string]string{
	"con": "com", "cmo": "com", "ocm": "com", "vom": "com", "xom": "com", "comm": "com",
	"coom": "com", "cpm": "com", "cim": "com", "ckm": "com", "cmm": "com", "comn": "com",
	"ccom": "com", "c0m": "com", "copm": "com", "colm": "com",
	"nte": "net", "nett": "net", "nrt": "net",
	"ogr": "org", "orgg": "org", "prg": "org", "oeg": "org",
}

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// isRoleLocal reports a role mailbox. Subaddresses (info+news@) count as the base box.
func isRoleLocal(local string) bool {
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if !strings.ContainsAny(local, ".-_") {
		return roleLocals[local]
	}
	return roleLocals[strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' {
			return -1
		}
		return r
	}, local)]
}

// isDisposableDomain reports a throw-away domain, including its subdomains, which the
// services hand out as extra addresses.
func isDisposableDomain(domain string) bool {
	for d := domain; ; {
		if disposableDomains[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}

// suggestDomain proposes the domain the user most likely meant, or "": the big provider
// it is a typo of, or else the same domain with a mistyped top-level label fixed
// (example.con → example.com).
func suggestDomain(domain string) string {
	if fix := suggestProvider(domain); fix != "" {
		return fix
	}
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 {
		return ""
	}
	if tld, ok := tldFixes[domain[dot+1:]]; ok {
		return domain[:dot+1] + tld
	}
	return ""
}

// suggestProvider proposes the big provider a domain is most likely a typo of, or "".
// The limit is two edits (a swap of neighbours counts as one) for names of nine or more
// characters and one edit for shorter ones, where two edits reach too many real domains.
func suggestProvider(domain string) string {
	if providerSet[domain] || len(domain) < 5 {
		return ""
	}
	if dot := strings.IndexByte(domain, '.'); dot > 0 && regionalBrands[domain[:dot]] {
		rest := domain[dot+1:]
		if len(rest) == 2 && !typoEndings[rest] || strings.HasPrefix(rest, "co.") || strings.HasPrefix(rest, "com.") {
			return "" // a country variant of a regional brand
		}
	}
	best, bestDist := "", 3
	for _, p := range providers {
		if !p.target {
			continue
		}
		limit := 2
		if len(p.domain) < 9 {
			limit = 1
		}
		if limit >= bestDist {
			limit = bestDist - 1
		}
		if d := osaWithin(domain, p.domain, limit); d >= 0 {
			best, bestDist = p.domain, d
			if d == 1 {
				break // nothing closer than one edit can follow
			}
		}
	}
	return best
}

// osaWithin returns the optimal-string-alignment distance between a and b (Levenshtein
// plus swaps of adjacent characters) if it is at most k, else -1. It stops as soon as a
// whole row exceeds k, which keeps the check against every provider cheap.
func osaWithin(a, b string, k int) int {
	if k < 0 {
		return -1
	}
	if d := len(a) - len(b); d > k || -d > k {
		return -1
	}
	const maxLen = 64
	if len(b) >= maxLen {
		return -1
	}
	var rows [3][maxLen + 1]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := prev[j-1] + cost
			if x := prev[j] + 1; x < v {
				v = x
			}
			if x := cur[j-1] + 1; x < v {
				v = x
			}
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				if x := prev2[j-2] + 1; x < v {
					v = x
				}
			}
			cur[j] = v
			if v < rowMin {
				rowMin = v
			}
		}
		if rowMin > k {
			return -1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	if prev[len(b)] > k {
		return -1
	}
	return prev[len(b)]
}
