package app

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// acmeManager obtains and renews the certificates of --acme-domain. It asks the CA the first
// time a client names one of those hosts (the handshake waits, typically a few seconds), keeps
// the account key and certificates in the data directory so restarts and other processes of
// this installation reuse them, and renews 30 days before expiry in the background. Only the
// configured names are ever asked for: a client sending any other server name gets a
// handshake error instead of a certificate request the CA would count against its limits.
func (a *App) acmeManager() (*autocert.Manager, error) {
	roots, err := a.Config.ACMERoots()
	if err != nil {
		return nil, err
	}
	client := &acme.Client{DirectoryURL: a.Config.ACMEDirectory, UserAgent: "steward/" + Version}
	if roots != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		client.HTTPClient = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(a.Config.ACMECacheDir()),
		HostPolicy: autocert.HostWhitelist(a.Config.ACMEHosts()...),
		Email:      a.Config.ACMEEmail,
		Client:     client,
	}, nil
}

// acmeChallengeServer answers HTTP-01 challenges on --acme-http-addr and redirects every other
// GET or HEAD to HTTPS on the default port; nothing else is served in plain text. The port is
// taken off the Host header first: autocert checks the header against the configured names as
// it is, so a client that writes "crm.example.com:80", or a challenge reaching a mapped port,
// would be refused.
func acmeChallengeServer(m *autocert.Manager) *http.Server {
	h := m.HTTPHandler(nil)
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if host, _, err := net.SplitHostPort(r.Host); err == nil {
				r.Host = host
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// listenACMEChallenges opens the HTTP-01 listener when --acme-http-addr is set, and returns a
// nil server otherwise.
func (a *App) listenACMEChallenges(m *autocert.Manager) (*http.Server, net.Listener, error) {
	if m == nil || a.Config.ACMEHTTPAddr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", a.Config.ACMEHTTPAddr)
	if err != nil {
		return nil, nil, err
	}
	return acmeChallengeServer(m), ln, nil
}
