package ingest

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestGeneralizeEvent(t *testing.T) {
	v := EventView{
		Properties: map[string]any{"query": "ada lovelace home address", "url": "https://shop.example/search?q=ada&email=ada@example.com#top",
			"product_id": "P-1", "price": 9.5, "review_body": "I live at 12 Crescent Road", "products": []any{map[string]any{"comment": "gift for Jane"}}},
		Context: map[string]any{"ip": "203.0.113.77", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
			"page": map[string]any{"url": "https://shop.example/p/1?utm_source=mail&uid=42", "referrer": "https://mail.example/read?id=99", "search": "?utm_source=mail", "title": "Kettle"}},
	}
	generalizeEvent(&v)
	b, _ := json.Marshal(v)
	got := string(b)
	for _, secret := range []string{"lovelace", "ada@example.com", "Crescent", "Jane", "203.0.113.77", "Chrome/126", "uid=42", "id=99", "utm_source"} {
		if strings.Contains(got, secret) {
			t.Errorf("generalised event still holds %q: %s", secret, got)
		}
	}
	for _, kept := range []string{`"product_id":"P-1"`, `"price":9.5`, `"ip":"203.0.113.0/24"`, `"userAgent":"Chrome"`, `"url":"https://shop.example/p/1"`, `"title":"Kettle"`} {
		if !strings.Contains(got, kept) {
			t.Errorf("generalised event lacks %s: %s", kept, got)
		}
	}
}
