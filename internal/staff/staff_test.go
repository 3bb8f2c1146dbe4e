package staff

import (
	"strings"
	"testing"
	"time"
)

// RFC 6238's SHA-1 test vectors, cut to six digits.
func TestCode(t *testing.T) {
	secret := []byte("12345678901234567890")
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1111111111: "050471", 1234567890: "005924", 2000000000: "279037", 20000000000: "353130"} {
		if got := Code(secret, unix/30); got != want {
			t.Errorf("Code at %d = %s, want %s", unix, got, want)
		}
	}
	now := time.Unix(1234567890, 0)
	if !ValidCode(secret, "005924", now) || !ValidCode(secret, Code(secret, now.Unix()/30-1), now) {
		t.Error("a current or just-past code refused")
	}
	if ValidCode(secret, Code(secret, now.Unix()/30-2), now) || ValidCode(secret, "12345", now) || ValidCode(secret, "", now) {
		t.Error("an old, short or empty code accepted")
	}
}

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %s is not OWASP's argon2id", h)
	}
	if !checkPassword(h, "correct horse battery") || checkPassword(h, "correct horse battery!") || checkPassword("$bcrypt$x", "x") {
		t.Error("password check wrong")
	}
	if h == hashPassword("correct horse battery") {
		t.Error("no salt")
	}
}
