// ctverify checks a static-ct-api log from the outside, sharing no code with
// it: Go's golang.org/x/mod/sumdb/tlog and note packages, the standard
// library's ECDSA and X.509, and the specifications.
//
// It fetches the checkpoint and verifies its RFC 6962 (type 0x05) note
// signature with the log's public key, then walks the whole log like
// Sunlight's CheckLog: every hash tile is authenticated up to the signed
// root (tlog.TileHashReader), every data-tile entry hashes to its level-0
// hash, every issuer exists and hashes to its name, no data tile has
// trailing bytes. For each submission given with -sub it checks that the
// SCT verifies over the logged entry, that the entry at the SCT's leaf_index
// is the submitted certificate and that an inclusion proof checks.
//
// Usage: ctverify -url MONITORING_PREFIX -origin ORIGIN -key PUBKEY.pem
//
//	[-sub CHAIN.json:SCT.json:(x509|precert)]... [-min-size N] [-prev CHECKPOINT]...
//
// With -rfc6962 SUBMISSION_PREFIX it also checks the RFC 6962 read API of the
// same log: get-sth equals the checkpoint, get-proof-by-hash and
// get-entry-and-proof return entries and audit paths that verify against it,
// get-entries matches the data tiles, get-sth-consistency proofs from each
// -prev size verify.
//
// Each -prev checkpoint (an earlier one of the same log) must verify and be
// consistent with the current tree (tlog.ProveTree / CheckTree).
//
// Build in GOPATH mode: GOPATH=/usr/share/gocode GO111MODULE=off go build.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type subs []string

func (s *subs) String() string     { return strings.Join(*s, ",") }
func (s *subs) Set(v string) error { *s = append(*s, v); return nil }

var (
	base    string
	client  = &http.Client{}
	fetches int
)

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "ctverify: "+format+"\n", args...)
	os.Exit(1)
}

func fetch(path string) ([]byte, error) {
	fetches++
	resp, err := client.Get(base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// ---- the checkpoint's RFC 6962 note signature ----

type rfc6962Verifier struct {
	name  string
	hash  uint32
	key   *ecdsa.PublicKey
	stamp uint64
}

func (v *rfc6962Verifier) Name() string    { return v.name }
func (v *rfc6962Verifier) KeyHash() uint32 { return v.hash }

func (v *rfc6962Verifier) Verify(msg, sig []byte) bool {
	// RFC6962NoteSignature: uint64 timestamp, DigitallySigned (4, 3, sig<2>)
	if len(sig) < 12 || sig[8] != 4 || sig[9] != 3 {
		return false
	}
	n := int(binary.BigEndian.Uint16(sig[10:12]))
	if len(sig) != 12+n {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	lines := strings.Split(string(msg), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return false // origin, size, root, and no extension lines
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return false
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return false
	}
	// TreeHeadSignature: version 0, tree_hash 1, timestamp, tree_size, root
	var ths bytes.Buffer
	ths.Write([]byte{0, 1})
	binary.Write(&ths, binary.BigEndian, ts)
	binary.Write(&ths, binary.BigEndian, size)
	ths.Write(root)
	d := sha256.Sum256(ths.Bytes())
	if !ecdsa.VerifyASN1(v.key, d[:], sig[12:]) {
		return false
	}
	v.stamp = ts
	return true
}

// ---- TileLeaf parsing ----

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = errors.New("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uint(n int) uint64 {
	var v uint64
	for _, c := range r.take(n) {
		v = v<<8 | uint64(c)
	}
	return v
}

func (r *reader) vec(n int) []byte { return r.take(int(r.uint(n))) }

type entry struct {
	timestampedEntry []byte // as logged, for the Merkle leaf and the SCT
	timestamp        uint64
	precert          bool
	cert             []byte // certificate, or TBSCertificate for precerts
	issuerKeyHash    []byte
	extensions       []byte
	preCertificate   []byte
	chain            [][]byte
}

func readTileLeaf(r *reader) (*entry, error) {
	start := r.b
	e := &entry{}
	e.timestamp = r.uint(8)
	switch r.uint(2) {
	case 0:
	case 1:
		e.precert = true
		e.issuerKeyHash = r.take(32)
	default:
		return nil, errors.New("unknown entry type")
	}
	e.cert = r.vec(3)
	e.extensions = r.vec(2)
	if r.err != nil {
		return nil, r.err
	}
	e.timestampedEntry = start[:len(start)-len(r.b)]
	if e.precert {
		e.preCertificate = r.vec(3)
	}
	fps := r.vec(2)
	if r.err != nil {
		return nil, r.err
	}
	if len(fps)%32 != 0 {
		return nil, errors.New("fingerprints not a multiple of 32 bytes")
	}
	for i := 0; i < len(fps); i += 32 {
		e.chain = append(e.chain, fps[i:i+32])
	}
	return e, nil
}

func leafIndex(ext []byte) (uint64, error) {
	r := &reader{b: ext}
	for len(r.b) > 0 {
		t := r.uint(1)
		d := r.vec(2)
		if r.err != nil {
			return 0, r.err
		}
		if t == 0 && len(d) == 5 {
			var v uint64
			for _, c := range d {
				v = v<<8 | uint64(c)
			}
			return v, nil
		}
	}
	return 0, errors.New("no leaf_index extension")
}

func merkleLeafHash(e *entry) tlog.Hash {
	// MerkleTreeLeaf = version v1 (0), timestamped_entry (0), TimestampedEntry
	return tlog.RecordHash(append([]byte{0, 0}, e.timestampedEntry...))
}

// ---- tiles over HTTP ----

type tileReader struct{}

func (tileReader) Height() int { return 8 }

func (tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		// Go names tiles tile/H/L/N; static-ct-api omits the height.
		data, err := fetch("tile/" + strings.TrimPrefix(t.Path(), "tile/8/"))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// openCheckpoint verifies a checkpoint and returns its size and root.
func openCheckpoint(cp []byte, origin string, v *rfc6962Verifier) (int64, tlog.Hash) {
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		fatalf("checkpoint does not verify: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if lines[0] != origin {
		fatalf("checkpoint origin %q, want %q", lines[0], origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fatalf("checkpoint size: %v", err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != 32 {
		fatalf("checkpoint root: %v", err)
	}
	var root tlog.Hash
	copy(root[:], rootBytes)
	return size, root
}

func main() {
	var keyFile, origin string
	var submissions subs
	var minSize int64
	var prevs subs
	var rfcURL string
	flag.StringVar(&rfcURL, "rfc6962", "", "submission prefix: also check the RFC 6962 read API")
	flag.Var(&prevs, "prev", "an earlier checkpoint file of this log, repeatable")
	flag.StringVar(&base, "url", "", "monitoring prefix, with a trailing slash")
	flag.StringVar(&origin, "origin", "", "checkpoint origin")
	flag.StringVar(&keyFile, "key", "", "log public key (PEM)")
	flag.Var(&submissions, "sub", "CHAIN.json:SCT.json:(x509|precert), repeatable")
	flag.Int64Var(&minSize, "min-size", 0, "fail if the tree is smaller")
	flag.Parse()
	if base == "" || origin == "" || keyFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		fatalf("%v", err)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		fatalf("%s: no PEM block", keyFile)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		fatalf("public key: %v", err)
	}
	ecKey, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		fatalf("public key is not ECDSA")
	}
	logID := sha256.Sum256(blk.Bytes)

	// checkpoint
	kh := sha256.Sum256(append(append([]byte(origin+"\n"), 0x05), logID[:]...))
	v := &rfc6962Verifier{name: origin, hash: binary.BigEndian.Uint32(kh[:4]), key: ecKey}
	cp, err := fetch("checkpoint")
	if err != nil {
		fatalf("%v", err)
	}
	size, root := openCheckpoint(cp, origin, v)
	stamp := v.stamp
	if size < minSize {
		fatalf("tree size %d < %d", size, minSize)
	}
	tree := tlog.Tree{N: size, Hash: root}
	hr := tlog.TileHashReader(tree, tileReader{})
	if size > 0 {
		th, err := tlog.TreeHash(size, hr)
		if err != nil || th != root {
			fatalf("tree hash from tiles: %v (%v vs %v)", err, th, root)
		}
	}

	for _, pf := range prevs {
		data, err := os.ReadFile(pf)
		if err != nil {
			fatalf("%v", err)
		}
		psize, proot := openCheckpoint(data, origin, v)
		if psize > size {
			fatalf("%s: size %d is beyond the current tree (%d)", pf, psize, size)
		}
		if psize == 0 {
			continue
		}
		proof, err := tlog.ProveTree(size, psize, hr)
		if err == nil {
			err = tlog.CheckTree(proof, size, root, psize, proot)
		}
		if err != nil {
			fatalf("%s: tree of size %d is not consistent with the current tree: %v", pf, psize, err)
		}
	}

	// whole log: every data tile entry against level 0, issuers, trailing bytes
	entries := make([]*entry, size)
	issuers := map[string]bool{}
	for start := int64(0); start < size; start += 256 {
		w := size - start
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: 8, L: -1, N: start / 256, W: int(w)}
		data, err := fetch("tile/" + strings.TrimPrefix(t.Path(), "tile/8/"))
		if err != nil {
			fatalf("%v", err)
		}
		r := &reader{b: data}
		idx := make([]int64, w)
		for i := int64(0); i < w; i++ {
			idx[i] = tlog.StoredHashIndex(0, start+i)
		}
		hashes, err := hr.ReadHashes(idx)
		if err != nil {
			fatalf("level 0 hashes at %d: %v", start, err)
		}
		for i := int64(0); i < w; i++ {
			e, err := readTileLeaf(r)
			if err != nil {
				fatalf("entry %d: %v", start+i, err)
			}
			if merkleLeafHash(e) != hashes[i] {
				fatalf("entry %d does not hash to its level-0 hash", start+i)
			}
			li, err := leafIndex(e.extensions)
			if err != nil || li != uint64(start+i) {
				fatalf("entry %d: leaf_index %d (%v)", start+i, li, err)
			}
			for _, fp := range e.chain {
				issuers[hex.EncodeToString(fp)] = true
			}
			entries[start+i] = e
		}
		if len(r.b) != 0 {
			fatalf("data tile %d: %d trailing bytes", start/256, len(r.b))
		}
	}
	for fp := range issuers {
		der, err := fetch("issuer/" + fp)
		if err != nil {
			fatalf("issuer %s: %v", fp, err)
		}
		if h := sha256.Sum256(der); hex.EncodeToString(h[:]) != fp {
			fatalf("issuer %s hashes to %x", fp, h)
		}
	}

	// submissions
	for _, s := range submissions {
		parts := strings.Split(s, ":")
		if len(parts) != 3 {
			fatalf("bad -sub %q", s)
		}
		var body struct{ Chain []string }
		var sct struct {
			SCTVersion int    `json:"sct_version"`
			ID         string `json:"id"`
			Timestamp  uint64 `json:"timestamp"`
			Extensions string `json:"extensions"`
			Signature  string `json:"signature"`
		}
		cb, err := os.ReadFile(parts[0])
		if err == nil {
			err = json.Unmarshal(cb, &body)
		}
		if err != nil || len(body.Chain) == 0 {
			fatalf("%s: %v", parts[0], err)
		}
		sb, err := os.ReadFile(parts[1])
		if err == nil {
			err = json.Unmarshal(sb, &sct)
		}
		if err != nil {
			fatalf("%s: %v", parts[1], err)
		}
		leaf, _ := base64.StdEncoding.DecodeString(body.Chain[0])
		ext, _ := base64.StdEncoding.DecodeString(sct.Extensions)
		id, _ := base64.StdEncoding.DecodeString(sct.ID)
		sig, _ := base64.StdEncoding.DecodeString(sct.Signature)
		if !bytes.Equal(id, logID[:]) {
			fatalf("%s: SCT log id is not this log's", parts[1])
		}
		li, err := leafIndex(ext)
		if err != nil || int64(li) >= size {
			fatalf("%s: leaf_index %d not in tree of %d (%v)", parts[1], li, size, err)
		}
		e := entries[li]
		if parts[2] == "precert" {
			if !e.precert || !bytes.Equal(e.preCertificate, leaf) {
				fatalf("%s: entry %d is not this precertificate", parts[1], li)
			}
		} else if e.precert || !bytes.Equal(e.cert, leaf) {
			fatalf("%s: entry %d is not this certificate", parts[1], li)
		}
		if e.timestamp != sct.Timestamp || !bytes.Equal(e.extensions, ext) {
			fatalf("%s: entry %d timestamp/extensions differ from the SCT", parts[1], li)
		}
		// SCT signature: version 0, certificate_timestamp 0, TimestampedEntry
		if len(sig) < 4 || sig[0] != 4 || sig[1] != 3 {
			fatalf("%s: SCT signature is not ECDSA/SHA-256", parts[1])
		}
		d := sha256.Sum256(append([]byte{0, 0}, e.timestampedEntry...))
		if !ecdsa.VerifyASN1(ecKey, d[:], sig[4:]) {
			fatalf("%s: SCT signature does not verify", parts[1])
		}
		proof, err := tlog.ProveRecord(size, int64(li), hr)
		if err == nil {
			err = tlog.CheckRecord(proof, size, root, int64(li), merkleLeafHash(e))
		}
		if err != nil {
			fatalf("%s: inclusion proof: %v", parts[1], err)
		}
	}
	if rfcURL != "" {
		checkRFC6962(rfcURL, size, root, v, entries, prevs, origin)
	}
	fmt.Printf("ctverify: ok: tree size %d, checkpoint time %d, %d issuers, %d submissions verified, %d fetches\n",
		size, stamp, len(issuers), len(submissions), fetches)
}

func getJSON(url string, out interface{}) {
	fetches++
	resp, err := client.Get(url)
	if err != nil {
		fatalf("%v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		fatalf("GET %s: %v", url, err)
	}
}

func hashes(b64 []string) []tlog.Hash {
	out := make([]tlog.Hash, len(b64))
	for i, s := range b64 {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			fatalf("bad hash %q", s)
		}
		copy(out[i][:], b)
	}
	return out
}

// leafInput checks that an RFC 6962 leaf_input is the MerkleTreeLeaf of e.
func leafInput(b64 string, e *entry) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || !bytes.Equal(b, append([]byte{0, 0}, e.timestampedEntry...)) {
		fatalf("leaf_input differs from the data tile entry")
	}
}

func checkRFC6962(sub string, size int64, root tlog.Hash, v *rfc6962Verifier, entries []*entry, prevs []string, origin string) {
	var sth struct {
		TreeSize  int64  `json:"tree_size"`
		Timestamp uint64 `json:"timestamp"`
		Root      string `json:"sha256_root_hash"`
		Sig       string `json:"tree_head_signature"`
	}
	getJSON(sub+"ct/v1/get-sth", &sth)
	if sth.TreeSize < size {
		fatalf("get-sth: size %d below the checkpoint's %d", sth.TreeSize, size)
	}
	if sth.TreeSize == size {
		r := hashes([]string{sth.Root})[0]
		if r != root {
			fatalf("get-sth root differs from the checkpoint")
		}
		sig, _ := base64.StdEncoding.DecodeString(sth.Sig)
		body := fmt.Sprintf("%s\n%d\n%s\n", origin, sth.TreeSize, sth.Root)
		ts := make([]byte, 8)
		binary.BigEndian.PutUint64(ts, sth.Timestamp)
		if !v.Verify([]byte(body), append(ts, sig...)) {
			fatalf("get-sth signature does not verify")
		}
	}
	if size == 0 {
		return
	}
	// get-entries over the whole tree, 256 at a time
	for start := int64(0); start < size; {
		var ge struct {
			Entries []struct {
				LeafInput string `json:"leaf_input"`
				ExtraData string `json:"extra_data"`
			} `json:"entries"`
		}
		getJSON(fmt.Sprintf("%sct/v1/get-entries?start=%d&end=%d", sub, start, size-1), &ge)
		if len(ge.Entries) == 0 {
			fatalf("get-entries returned nothing at %d", start)
		}
		for i, x := range ge.Entries {
			e := entries[start+int64(i)]
			leafInput(x.LeafInput, e)
			extra, _ := base64.StdEncoding.DecodeString(x.ExtraData)
			r := &reader{b: extra}
			if e.precert && !bytes.Equal(r.vec(3), e.preCertificate) {
				fatalf("entry %d: extra_data pre_certificate differs", start+int64(i))
			}
			chain := &reader{b: r.vec(3)}
			for _, fp := range e.chain {
				c := chain.vec(3)
				if h := sha256.Sum256(c); !bytes.Equal(h[:], fp) {
					fatalf("entry %d: extra_data chain differs from the fingerprints", start+int64(i))
				}
			}
			if r.err != nil || chain.err != nil || len(r.b) != 0 || len(chain.b) != 0 {
				fatalf("entry %d: malformed extra_data", start+int64(i))
			}
		}
		start += int64(len(ge.Entries))
	}
	// proofs for a spread of entries
	step := size/40 + 1
	for i := int64(0); i < size; i += step {
		e := entries[i]
		lh := merkleLeafHash(e)
		var pb struct {
			LeafIndex int64    `json:"leaf_index"`
			AuditPath []string `json:"audit_path"`
		}
		getJSON(fmt.Sprintf("%sct/v1/get-proof-by-hash?tree_size=%d&hash=%s", sub, size,
			strings.ReplaceAll(base64.StdEncoding.EncodeToString(lh[:]), "+", "%2B")), &pb)
		if pb.LeafIndex != i {
			// an identical entry earlier in the log would be found first
			if merkleLeafHash(entries[pb.LeafIndex]) != lh {
				fatalf("get-proof-by-hash: index %d for entry %d", pb.LeafIndex, i)
			}
		}
		if err := tlog.CheckRecord(hashes(pb.AuditPath), size, root, pb.LeafIndex, lh); err != nil {
			fatalf("get-proof-by-hash %d: %v", i, err)
		}
		var ep struct {
			LeafInput string   `json:"leaf_input"`
			AuditPath []string `json:"audit_path"`
		}
		getJSON(fmt.Sprintf("%sct/v1/get-entry-and-proof?leaf_index=%d&tree_size=%d", sub, i, size), &ep)
		leafInput(ep.LeafInput, e)
		if err := tlog.CheckRecord(hashes(ep.AuditPath), size, root, i, lh); err != nil {
			fatalf("get-entry-and-proof %d: %v", i, err)
		}
	}
	// consistency from every earlier checkpoint
	for _, pf := range prevs {
		data, _ := os.ReadFile(pf)
		psize, proot := openCheckpoint(data, origin, v)
		if psize == 0 || psize > size {
			continue
		}
		var c struct {
			Consistency []string `json:"consistency"`
		}
		getJSON(fmt.Sprintf("%sct/v1/get-sth-consistency?first=%d&second=%d", sub, psize, size), &c)
		if err := tlog.CheckTree(hashes(c.Consistency), size, root, psize, proot); err != nil {
			fatalf("get-sth-consistency %d..%d: %v", psize, size, err)
		}
	}
}
