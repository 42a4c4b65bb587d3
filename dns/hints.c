/*
 * The root hints and NS sets of the iterator (iterate.c): IANA's root hints
 * built in, a hints file in master-file form replacing them (as Unbound's
 * root-hints:), and adding servers and their addresses to a zone cut's NS
 * set, which referrals, priming and NS address lookups do alike. Split from
 * iterate.c, which keeps the resolution itself.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dns/dns.h"
#include "dns/dns_internal.h"

/* ---- root hints ---- */

/* IANA's root hints (named.root), used when dns.root_hints is not set. */
static const char builtin_hints[] =
	".  3600000 NS a.root-servers.net.\n"
	".  3600000 NS b.root-servers.net.\n"
	".  3600000 NS c.root-servers.net.\n"
	".  3600000 NS d.root-servers.net.\n"
	".  3600000 NS e.root-servers.net.\n"
	".  3600000 NS f.root-servers.net.\n"
	".  3600000 NS g.root-servers.net.\n"
	".  3600000 NS h.root-servers.net.\n"
	".  3600000 NS i.root-servers.net.\n"
	".  3600000 NS j.root-servers.net.\n"
	".  3600000 NS k.root-servers.net.\n"
	".  3600000 NS l.root-servers.net.\n"
	".  3600000 NS m.root-servers.net.\n"
	"a.root-servers.net. 3600000 A 198.41.0.4\n"
	"a.root-servers.net. 3600000 AAAA 2001:503:ba3e::2:30\n"
	"b.root-servers.net. 3600000 A 170.247.170.2\n"
	"b.root-servers.net. 3600000 AAAA 2801:1b8:10::b\n"
	"c.root-servers.net. 3600000 A 192.33.4.12\n"
	"c.root-servers.net. 3600000 AAAA 2001:500:2::c\n"
	"d.root-servers.net. 3600000 A 199.7.91.13\n"
	"d.root-servers.net. 3600000 AAAA 2001:500:2d::d\n"
	"e.root-servers.net. 3600000 A 192.203.230.10\n"
	"e.root-servers.net. 3600000 AAAA 2001:500:a8::e\n"
	"f.root-servers.net. 3600000 A 192.5.5.241\n"
	"f.root-servers.net. 3600000 AAAA 2001:500:2f::f\n"
	"g.root-servers.net. 3600000 A 192.112.36.4\n"
	"g.root-servers.net. 3600000 AAAA 2001:500:12::d0d\n"
	"h.root-servers.net. 3600000 A 198.97.190.53\n"
	"h.root-servers.net. 3600000 AAAA 2001:500:1::53\n"
	"i.root-servers.net. 3600000 A 192.36.148.17\n"
	"i.root-servers.net. 3600000 AAAA 2001:7fe::53\n"
	"j.root-servers.net. 3600000 A 192.58.128.30\n"
	"j.root-servers.net. 3600000 AAAA 2001:503:c27::2:30\n"
	"k.root-servers.net. 3600000 A 193.0.14.129\n"
	"k.root-servers.net. 3600000 AAAA 2001:7fd::1\n"
	"l.root-servers.net. 3600000 A 199.7.83.42\n"
	"l.root-servers.net. 3600000 AAAA 2001:500:9f::42\n"
	"m.root-servers.net. 3600000 A 202.12.27.33\n"
	"m.root-servers.net. 3600000 AAAA 2001:dc3::35\n";

/* Adds an address to the server named name in set (adding the server if it is new). */
int dns_nsset_add_addr(struct dns_nsset *set, const uint8_t *name, const struct dns_rr *rr)
{
	struct dns_ns *ns = NULL;
	for (size_t i = 0; i < set->n; i++)
		if (dns_name_eq(set->ns[i].name, name))
			ns = &set->ns[i];
	if (!ns)
		return TB_ERR_NOT_FOUND;
	if (ns->n_addr >= DNS_NS_ADDRS_MAX)
		return 0;
	struct sockaddr_storage *sa = &ns->addr[ns->n_addr];
	memset(sa, 0, sizeof *sa);
	if (rr->type == DNS_T_A && rr->rdlen == 4) {
		struct sockaddr_in *a = (struct sockaddr_in *)sa;
		a->sin_family = AF_INET;
		a->sin_port = htons(53);
		memcpy(&a->sin_addr, rr->rdata, 4);
	} else if (rr->type == DNS_T_AAAA && rr->rdlen == 16) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(53);
		memcpy(&a->sin6_addr, rr->rdata, 16);
	} else {
		return TB_ERR_INVALID;
	}
	for (size_t i = 0; i < ns->n_addr; i++)
		if (memcmp(&ns->addr[i], sa, sizeof *sa) == 0)
			return 0;
	ns->n_addr++;
	return 0;
}

void dns_nsset_add_ns(struct dns_nsset *set, const uint8_t *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (dns_name_eq(set->ns[i].name, name))
			return;
	if (set->n >= DNS_NSSET_MAX)
		return;
	struct dns_ns *ns = &set->ns[set->n++];
	memset(ns, 0, sizeof *ns);
	memcpy(ns->name, name, (size_t)dns_name_len(name, DNS_NAME_MAX));
}

struct hints_ctx {
	struct dns_nsset *set;
	struct dns_rr addrs[256];
	uint8_t owners[256][DNS_NAME_MAX];
	uint8_t rdata[256][16];
	size_t n_addrs;
	int err;
};

static int hints_rr(void *arg, const struct dns_rr *rr)
{
	struct hints_ctx *c = arg;
	if (rr->type == DNS_T_NS) {
		if (rr->owner[0] != 0) {
			c->err = TB_ERR_INVALID; /* hints name the root's servers, nothing else */
			return 1;
		}
		dns_nsset_add_ns(c->set, rr->rdata);
	} else if ((rr->type == DNS_T_A && rr->rdlen == 4) || (rr->type == DNS_T_AAAA && rr->rdlen == 16)) {
		/* the NS records may come after their addresses: keep them for later */
		if (c->n_addrs < 256) {
			size_t i = c->n_addrs++;
			memcpy(c->owners[i], rr->owner, (size_t)dns_name_len(rr->owner, DNS_NAME_MAX));
			memcpy(c->rdata[i], rr->rdata, rr->rdlen);
			c->addrs[i] = *rr;
			c->addrs[i].owner = c->owners[i];
			c->addrs[i].rdata = c->rdata[i];
		}
	}
	return 0;
}

int dns_root_hints_parse(const char *text, size_t len, struct dns_nsset *set, char *err, size_t errlen)
{
	struct hints_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return TB_ERR_NOMEM;
	memset(set, 0, sizeof *set);
	c->set = set;
	struct dns_zone_error ze;
	int e = dns_zonefile_parse(text, len, (const uint8_t *)"", 3600, hints_rr, c, &ze);
	if (e || c->err) {
		if (c->err)
			snprintf(err, errlen, "line %u: only NS records for the root and A/AAAA records belong here",
				ze.line);
		else
			snprintf(err, errlen, "line %u, column %u: %s", ze.line, ze.col, ze.msg);
		free(c);
		return TB_ERR_INVALID;
	}
	for (size_t i = 0; i < c->n_addrs; i++)
		dns_nsset_add_addr(set, c->addrs[i].owner, &c->addrs[i]);
	free(c);
	size_t usable = 0;
	for (size_t i = 0; i < set->n; i++)
		usable += set->ns[i].n_addr > 0;
	if (!usable) {
		snprintf(err, errlen, "no root server with an address (NS records for \".\" and their A/AAAA)");
		return TB_ERR_INVALID;
	}
	return 0;
}

int dns_root_hints_builtin(struct dns_nsset *set)
{
	char err[200];
	return dns_root_hints_parse(builtin_hints, sizeof builtin_hints - 1, set, err, sizeof err);
}
