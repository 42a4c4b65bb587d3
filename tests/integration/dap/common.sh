# Sourced by the DAP integration scripts after lib.sh, for the collector's side of a task:
#   b64u HEX                  the bytes HEX in base64url without padding
#   rid N                     N random bytes in base64url (task ids, tokens, verify keys)
#   collector_key             a new X25519 key in collector.pem: sk and pk (hex) and CCFG,
#                             its HpkeConfig (id 1, X25519, HKDF-SHA256, AES-128-GCM) in
#                             base64url, as a task's collector_hpke_config
#   credential FILE TOKEN     divviup's collector_credential.json for that key and TOKEN

b64u() { python3 -c "import sys,base64;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b'=').decode())" "$1"; }
rid() { b64u "$(od -An -v -N"$1" -tx1 /dev/urandom | tr -d ' \n')"; }

collector_key() {
	openssl genpkey -algorithm X25519 -out collector.pem 2>/dev/null || die "openssl X25519"
	sk=$(openssl pkey -in collector.pem -outform DER | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
	pk=$(openssl pkey -in collector.pem -pubout -outform DER | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
	CCFG=$(b64u "01002000010001""0020$pk")
}

credential() { # credential FILE TOKEN
	printf '{"aead":"AesGcm128","id":1,"kdf":"Sha256","kem":"X25519HkdfSha256","private_key":"%s","public_key":"%s","token":"%s"}\n' \
		"$(b64u "$sk")" "$(b64u "$pk")" "$2" > "$1"
}
