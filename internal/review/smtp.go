package review

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"
)

// SMTPConfig is the deployment's mail relay.
type SMTPConfig struct {
	Host         string
	Port         int    // default 587
	From         string // envelope and header sender
	Username     string // empty: no authentication
	PasswordFile string // file holding the password (never the password itself in config)
	// Timeout bounds one message (default 30 s).
	Timeout time.Duration
}

// SMTPMailer sends mail through an SMTP relay: STARTTLS when the server
// offers it (required before authenticating, except on loopback).
type SMTPMailer struct {
	cfg      SMTPConfig
	password string
}

// NewSMTPMailer checks the configuration and reads the password file.
func NewSMTPMailer(cfg SMTPConfig) (*SMTPMailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: --smtp-host is required to send review e-mail")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("smtp: --smtp-from %q is not an e-mail address", cfg.From)
	}
	m := &SMTPMailer{cfg: cfg}
	if cfg.Username != "" {
		if cfg.PasswordFile == "" {
			return nil, errors.New("smtp: --smtp-username needs --smtp-password-file")
		}
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("smtp: read the password file: %w", err)
		}
		m.password = strings.TrimRight(string(b), "\r\n")
	}
	return m, nil
}

// Send delivers one plain-text message.
func (m *SMTPMailer) Send(ctx context.Context, to, subject, body string) error {
	if _, err := mail.ParseAddress(to); err != nil {
		return fmt.Errorf("smtp: recipient %q is not an e-mail address", to)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		return fmt.Errorf("smtp: greeting from %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello("phiwatch"); err != nil {
		return fmt.Errorf("smtp: HELO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp: STARTTLS: %w", err)
		}
	}
	if m.cfg.Username != "" {
		// PlainAuth refuses to send the password unencrypted to anything
		// but localhost.
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.password, m.cfg.Host)); err != nil {
			return fmt.Errorf("smtp: authenticate as %s: %w", m.cfg.Username, err)
		}
	}
	from, _ := mail.ParseAddress(m.cfg.From)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	rcpt, _ := mail.ParseAddress(to)
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("smtp: RCPT TO %s: %w", rcpt.Address, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(message(m.cfg.From, rcpt.Address, subject, body, time.Now())); err != nil {
		return fmt.Errorf("smtp: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: message refused: %w", err)
	}
	return c.Quit()
}

// message builds an RFC 5322 message; header values lose CR and LF so a
// subject cannot inject headers.
func message(from, to, subject, body string, at time.Time) []byte {
	clean := func(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", clean(from), clean(to), mime.QEncoding.Encode("utf-8", clean(subject)), at.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		b.WriteString(line + "\r\n")
	}
	return []byte(b.String())
}
