/*
 * Internals shared by the dns folder: the RDATA schema table. Each known type
 * is a string of field codes, read by the wire checker, the compressor and the
 * presentation code alike, so that a type is described once.
 *
 *   n  domain name               1/2/4  unsigned integer of 1, 2 or 4 octets
 *   T  48-bit time (TSIG)        i/I    IPv4 / IPv6 address
 *   s  one <character-string>    S      one or more <character-string>s to the end
 *   B  base64, rest of RDATA     X      hex, rest of RDATA
 *   x  hex with 1-octet length ("-" when empty, NSEC3 salt)
 *   h  base32hex with 1-octet length (NSEC3 next hashed owner)
 *   W  type bitmap, rest         P      SVCB SvcParams, rest
 *   c  CAA tag (1-octet length)  v      CAA value, rest
 *   y  type mnemonic (u16)       t      RRSIG time (u32, YYYYMMDDHHmmSS)
 *   m  base64 with 2-octet length (TSIG MAC)
 *   o  hex with 2-octet length (TSIG other data)
 *   O  EDNS options, rest
 */
#ifndef DNS_INTERNAL_H
#define DNS_INTERNAL_H

#include <stdint.h>

struct dns_rrtype {
	uint16_t type;
	const char *name;
	const char *fields;
	uint8_t compress; /* RFC 1035 type: names may be compressed on write (RFC 3597 4) */
};

/* NULL for types without a schema (handled as RFC 3597 opaque data). */
const struct dns_rrtype *dns_rrtype_find(uint16_t type);
const struct dns_rrtype *dns_rrtype_by_name(const char *s, size_t n);

#endif
