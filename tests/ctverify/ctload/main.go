// ctload measures durable add-chain throughput and latency of a CT log.
//
// It makes its own CA (ECDSA P-256 root and intermediate, written to
// -ca-dir so the log can be configured to accept the root), pre-generates
// -n distinct leaf certificates with realistic contents (several SANs,
// serverAuth EKU, AKI/SKI, ~1 KB), then submits leaf+intermediate chains to
// add-chain from -c concurrent clients. An SCT is only returned once the
// entry is committed, so every successful call is a durable write.
//
// Usage:
//
//	ctload -ca-dir DIR -init                 # write DIR/root.pem and keys, exit
//	ctload -ca-dir DIR -url SUBMISSION_PREFIX -n 5000 -c 64
//
// Build in GOPATH mode: GOPATH=/usr/share/gocode GO111MODULE=off go build.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctload:", err)
		os.Exit(1)
	}
}

func writePEM(path, typ string, der []byte) {
	check(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

func readPEM(path string) []byte {
	b, err := os.ReadFile(path)
	check(err)
	blk, _ := pem.Decode(b)
	if blk == nil {
		check(fmt.Errorf("%s: no PEM", path))
	}
	return blk.Bytes
}

func initCA(dir string) {
	check(os.MkdirAll(dir, 0o700))
	rk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ik, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	root := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ctload Root", Organization: []string{"trustbox bench"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rder, err := x509.CreateCertificate(rand.Reader, root, root, &rk.PublicKey, rk)
	check(err)
	rc, _ := x509.ParseCertificate(rder)
	inter := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ctload Intermediate E1", Organization: []string{"trustbox bench"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(3, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	ider, err := x509.CreateCertificate(rand.Reader, inter, rc, &ik.PublicKey, rk)
	check(err)
	ikd, _ := x509.MarshalECPrivateKey(ik)
	writePEM(filepath.Join(dir, "root.pem"), "CERTIFICATE", rder)
	writePEM(filepath.Join(dir, "inter.pem"), "CERTIFICATE", ider)
	writePEM(filepath.Join(dir, "inter.key"), "EC PRIVATE KEY", ikd)
}

func main() {
	dir := flag.String("ca-dir", "", "directory of the bench CA")
	doInit := flag.Bool("init", false, "create the CA and exit")
	url := flag.String("url", "", "submission prefix, with a trailing slash")
	n := flag.Int("n", 2000, "submissions")
	c := flag.Int("c", 32, "concurrent submitters")
	flag.Parse()
	if *dir == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *doInit {
		initCA(*dir)
		return
	}
	ider := readPEM(filepath.Join(*dir, "inter.pem"))
	ic, err := x509.ParseCertificate(ider)
	check(err)
	ik, err := x509.ParseECPrivateKey(readPEM(filepath.Join(*dir, "inter.key")))
	check(err)

	// pre-generate distinct chains
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	interB64 := base64.StdEncoding.EncodeToString(ider)
	bodies := make([][]byte, *n)
	start := time.Now()
	stamp := time.Now().UnixNano()
	for i := range bodies {
		name := fmt.Sprintf("host%d-%d.bench.lab.test", i, stamp%1000000)
		tmpl := &x509.Certificate{
			SerialNumber: new(big.Int).SetInt64(stamp + int64(i)),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(0, 0, 90),
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:              []string{name, "www." + name, "api." + name, "static." + name},
			OCSPServer:            []string{"http://ocsp.bench.lab.test"},
			IssuingCertificateURL: []string{"http://ca.bench.lab.test/inter.der"},
			PolicyIdentifiers:     []asn1.ObjectIdentifier{{2, 23, 140, 1, 2, 1}},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ic, &leafKey.PublicKey, ik)
		check(err)
		body, _ := json.Marshal(map[string][]string{"chain": {base64.StdEncoding.EncodeToString(der), interB64}})
		bodies[i] = body
	}
	fmt.Printf("generated %d chains in %.1fs (leaf ~%d bytes)\n", *n, time.Since(start).Seconds(), len(bodies[0])*3/8)

	tr := &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	lat := make([]time.Duration, *n)
	var next, fails, busy int64
	var wg sync.WaitGroup
	start = time.Now()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(*n) {
					return
				}
				for {
					t0 := time.Now()
					resp, err := client.Post(*url+"ct/v1/add-chain", "application/json", bytes.NewReader(bodies[i]))
					if err != nil {
						atomic.AddInt64(&fails, 1)
						break
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 503 {
						atomic.AddInt64(&busy, 1)
						time.Sleep(100 * time.Millisecond)
						continue
					}
					if resp.StatusCode != 200 {
						atomic.AddInt64(&fails, 1)
					}
					lat[i] = time.Since(t0)
					break
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
	fmt.Printf("add-chain: %d submissions, %d concurrent: %.0f/s durable, latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d failed, %d retried after 503\n",
		*n, *c, float64(*n)/el.Seconds(), pct(0.5), pct(0.99), pct(1), fails, busy)
	if fails > 0 {
		os.Exit(1)
	}
}
