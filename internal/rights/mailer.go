package rights

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Mailer sends the one-time links of self-service requests and the download links of
// completed access requests by e-mail.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Texter sends the same links by text message to a phone number (E.164). Requests made by
// phone number need one: without it a customer cannot confirm such a request, so the portal
// refuses it rather than accept a request nobody can verify.
type Texter interface {
	SendText(ctx context.Context, to, body string) error
}

// FileMailer writes each message as an .eml file into Dir instead of sending it, and each
// text message as an .sms file: for development and tests, where no mail server or SMS
// gateway exists. The files hold the recipient's address or number, so Dir belongs to the
// operator like the data directory.
type FileMailer struct {
	Dir  string
	From string
}

// Send implements Mailer.
func (m *FileMailer) Send(ctx context.Context, to, subject, body string) error {
	return m.drop(".eml", message(m.From, to, subject, body))
}

// SendText implements Texter.
func (m *FileMailer) SendText(ctx context.Context, to, body string) error {
	if strings.ContainsAny(to, "\r\n") {
		return fmt.Errorf("mail drop: bad recipient")
	}
	return m.drop(".sms", []byte("To: "+to+"\r\nDate: "+time.Now().UTC().Format(time.RFC1123Z)+"\r\n\r\n"+
		strings.ReplaceAll(body, "\n", "\r\n")))
}

// drop writes one message file, named so that a listing sorts them by time.
func (m *FileMailer) drop(ext string, b []byte) error {
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return fmt.Errorf("mail drop: %w", err)
	}
	name := filepath.Join(m.Dir, time.Now().UTC().Format("20060102T150405.000000000")+"-"+newID()+ext)
	return os.WriteFile(name, b, 0o600)
}

// SMTPMailer sends through an SMTP server with STARTTLS when the server offers it and PLAIN
// authentication when a user is set (net/smtp refuses PLAIN over an unencrypted connection
// to anything but localhost).
type SMTPMailer struct {
	Addr     string // host:port
	User     string
	Password string
	From     string
}

// Send implements Mailer.
func (m *SMTPMailer) Send(ctx context.Context, to, subject, body string) error {
	if strings.ContainsAny(to, "\r\n") {
		return fmt.Errorf("smtp: bad recipient")
	}
	var auth smtp.Auth
	if m.User != "" {
		host, _, _ := net.SplitHostPort(m.Addr)
		auth = smtp.PlainAuth("", m.User, m.Password, host)
	}
	if err := smtp.SendMail(m.Addr, auth, m.From, []string{to}, message(m.From, to, subject, body)); err != nil {
		return fmt.Errorf("smtp: %s", scrub(err.Error()))
	}
	return nil
}

var (
	addressLike = regexp.MustCompile(`[^\s<>"'()\[\],;:]+@[^\s<>"'()\[\],;:]+`)
	numberLike  = regexp.MustCompile(`\+?\d(?:[ ().-]?\d){7,}`) // eight digits or more, as phone numbers have
)

// scrub removes anything that looks like an e-mail address or phone number from a sender's
// error before it can reach a log: mail servers quote the recipient in their refusals ("550
// <ada@example.com>: Recipient address rejected").
func scrub(s string) string {
	return numberLike.ReplaceAllString(addressLike.ReplaceAllString(s, "[address]"), "[number]")
}

func message(from, to, subject, body string) []byte {
	var b strings.Builder
	b.WriteString("From: " + from + "\r\n")
	b.WriteString("To: " + to + "\r\n")
	b.WriteString("Subject: " + subject + "\r\n")
	b.WriteString("Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}
