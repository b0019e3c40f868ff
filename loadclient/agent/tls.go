package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// CertFiles are where an agent whose token is in tokenFile keeps the
// certificate and key it writes: beside the token, with the extensions
// .crt and .key ("/etc/imtool/agent.token": /etc/imtool/agent.crt and
// /etc/imtool/agent.key).
func CertFiles(tokenFile string) (cert, key string) {
	base := strings.TrimSuffix(tokenFile, filepath.Ext(tokenFile))
	return base + ".crt", base + ".key"
}

// LoadOrCreateCert reads the agent's certificate and key. When neither file
// exists it writes a new self-signed certificate (ECDSA P-256, ten years,
// the key readable by its owner only) and reports created. The key file
// must be private (as the token file).
func LoadOrCreateCert(certFile, keyFile string) (cert tls.Certificate, created bool, err error) {
	_, cerr := os.Stat(certFile)
	_, kerr := os.Stat(keyFile)
	switch {
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
		if err := writeSelfSigned(certFile, keyFile); err != nil {
			return tls.Certificate{}, false, err
		}
		created = true
	case errors.Is(cerr, fs.ErrNotExist) != errors.Is(kerr, fs.ErrNotExist):
		return tls.Certificate{}, false, fmt.Errorf("of the agent's certificate %s and key %s only one exists: restore the other, or delete both and the agent writes a new pair (then give the coordinator its new fingerprint)", certFile, keyFile)
	}
	cert, err = LoadCert(certFile, keyFile)
	return cert, created, err
}

// LoadCert reads a certificate and its key (PEM), refusing a key file others
// may read.
func LoadCert(certFile, keyFile string) (tls.Certificate, error) {
	f, err := os.Open(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot read the TLS key: %w", err)
	}
	defer f.Close()
	if err := privateFile(f, keyFile); err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot read the TLS key: %w", err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot read the TLS certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s and key %s: %w (give a PEM certificate and its PEM key)", certFile, keyFile, err)
	}
	return cert, nil
}

func writeSelfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("cannot generate a TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("cannot generate a TLS certificate: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "imtool agent " + host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	for _, a := range hostAddresses() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, a.AsSlice())
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("cannot generate a TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("cannot encode the TLS key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return fmt.Errorf("cannot create the TLS key's directory: %w", err)
	}
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("cannot write the TLS key: %w", err)
	}
	if err := writeNew(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		os.Remove(keyFile)
		return fmt.Errorf("cannot write the TLS certificate: %w", err)
	}
	return nil
}

// writeNew creates name with data; it never replaces an existing file.
func writeNew(name string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// ServerTLS is the agent's TLS configuration with cert.
func ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
}

// Fingerprint is the SHA-256 of a certificate (DER), written sha256:HEX.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprints reads --agent-fingerprint: comma-separated SHA-256
// fingerprints, each as the agent prints it (sha256:HEX) or as `openssl x509
// -noout -fingerprint -sha256` does (AB:CD:…), and returns them as
// Fingerprint writes them.
func ParseFingerprints(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		f := strings.TrimSpace(part)
		if f == "" {
			continue
		}
		if _, after, ok := strings.Cut(f, "="); ok { // openssl's "SHA256 Fingerprint=AB:CD:…"
			f = after
		}
		f = strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(f), "sha256:"), ":", "")
		if b, err := hex.DecodeString(f); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("--agent-fingerprint %q: %q is not a SHA-256 fingerprint (sha256: and 64 hex digits, as the agent prints it at start)", s, strings.TrimSpace(part))
		}
		out = append(out, "sha256:"+f)
	}
	return out, nil
}

// clientTLS is the coordinator's TLS configuration: with pins, the agent's
// certificate must be one of them (it is usually self-signed, so the usual
// chain and name checks are replaced by the pin); without, the system's
// roots verify it.
func clientTLS(pins []string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13}
	if len(pins) == 0 {
		return c
	}
	c.InsecureSkipVerify = true // replaced by the pin check below
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the agent presented no certificate")
		}
		got := Fingerprint(cs.PeerCertificates[0].Raw)
		if !slices.Contains(pins, got) {
			return &PinError{Got: got}
		}
		return nil
	}
	return c
}

// PinError is an agent whose certificate is none of the pinned ones.
type PinError struct{ Got string }

func (e *PinError) Error() string {
	return fmt.Sprintf("its TLS certificate %s is not one of --agent-fingerprint: if the agent's certificate was replaced on purpose, give its new fingerprint (the agent prints it at start); otherwise something between here and the agent poses as it", e.Got)
}
