package rights

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Mailer sends the one-time links of self-service requests.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// FileMailer writes each message as an .eml file into Dir instead of sending it: for
// development and tests, where no mail server exists. The files hold the recipient's address,
// so Dir belongs to the operator like the data directory.
type FileMailer struct {
	Dir  string
	From string
}

// Send implements Mailer.
func (m *FileMailer) Send(ctx context.Context, to, subject, body string) error {
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return fmt.Errorf("mail drop: %w", err)
	}
	name := filepath.Join(m.Dir, time.Now().UTC().Format("20060102T150405.000000000")+"-"+newID()+".eml")
	return os.WriteFile(name, message(m.From, to, subject, body), 0o600)
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
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
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
