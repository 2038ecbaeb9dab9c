package clickwraptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// certValidity is how long the sandbox CA and leaf certificate are valid.
// Both are generated in memory for every Server and never persisted (except
// the CA certificate, on request, by WriteCAFile), so a long lifetime costs
// nothing and lets a local demo run for as long as it likes.
const certValidity = 365 * 24 * time.Hour

// sandboxPKI is the certificate material of one Server.
type sandboxPKI struct {
	caPEM []byte          // the CA certificate, PEM encoded: the only trust anchor
	leaf  tls.Certificate // the serving certificate (signed by the CA) and its key
}

// newSandboxPKI generates a fresh ECDSA P-256 CA and a leaf certificate for
// 127.0.0.1, ::1 and localhost signed by it. The CA private key is discarded
// once the leaf is signed: the CA serves only as a trust anchor.
func newSandboxPKI() (*sandboxPKI, error) {
	now := time.Now()
	ca, err := issueCert("CA", now, &x509.Certificate{
		Subject:        pkix.Name{CommonName: "clickwraptest sandbox CA"},
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		IsCA:           true,
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}, nil)
	if err != nil {
		return nil, err
	}
	leaf, err := issueCert("leaf", now, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        false,
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}, ca)
	if err != nil {
		return nil, err
	}

	return &sandboxPKI{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der}),
		leaf: tls.Certificate{
			Certificate: [][]byte{leaf.der},
			PrivateKey:  leaf.key,
			Leaf:        leaf.cert,
		},
	}, nil
}

// issuedCert is a certificate issueCert made, with its private key.
type issuedCert struct {
	key  *ecdsa.PrivateKey
	der  []byte
	cert *x509.Certificate
}

// issueCert generates an ECDSA P-256 key and creates a certificate for it
// from template, signed by issuer's key or, when issuer is nil, self-signed.
// It fills in what the CA and the leaf share: a random serial number, the
// clickwraptest organization, basic constraints, and a validity from an
// hour before now to certValidity after it. what names the certificate in
// errors.
func issueCert(what string, now time.Time, template *x509.Certificate, issuer *issuedCert) (*issuedCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", what, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	template.Subject.Organization = []string{"clickwraptest"}
	template.NotBefore = now.Add(-time.Hour)
	template.NotAfter = now.Add(certValidity)
	template.BasicConstraintsValid = true
	parent, parentKey := template, key
	if issuer != nil {
		parent, parentKey = issuer.cert, issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("create %s certificate: %w", what, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s certificate: %w", what, err)
	}
	return &issuedCert{key: key, der: der, cert: cert}, nil
}

// randomSerial returns a random positive 128-bit certificate serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
