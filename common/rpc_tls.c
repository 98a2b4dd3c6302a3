/* rpc_tls.c -- TLS for rpc.c's tls+tcp:// URLs (see rpc.h, "TLS").
 *
 * Every file named in an rpc_tls_options is read and checked here with
 * mbedTLS (the TLS engine Debian's libnng links, so what passes here is
 * what nng will load) before nng sees it: a missing, unreadable, malformed
 * or expired certificate, a key that does not belong to its certificate,
 * or a CA file without a certificate is an INVALID_ARGUMENT naming the file
 * at server start / client open -- never a silent handshake failure later.
 *
 * Invariants: the nng_tls_config built by rpc_tls_config_new verifies the
 * peer whenever a CA is involved: a client always verifies the server
 * (chain to the CA file, and the server name: the URL's host unless
 * server_name is set); a server verifies clients only with
 * require_client_cert, and then refuses a client without a valid one.
 * Nothing here keeps a file open or a copy of a key beyond the config.
 */
#include "rpc_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "util.h"

bool
rpc_url_is_tls(const char *url)
{
	return url != NULL && strncmp(url, "tls+tcp://", 10) == 0;
}

/* Copies the host of a tcp-like URL ("tcp://HOST:PORT", "[v6]" brackets
 * dropped) into out; false when there is none or it does not fit. */
static bool
url_host(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	if (p == NULL)
		return false;
	p += 3;
	const char *end;
	if (*p == '[') {
		p++;
		end = strchr(p, ']');
	} else {
		end = strrchr(p, ':');
	}
	if (end == NULL || end == p || (size_t)(end - p) >= cap)
		return false;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return true;
}

bool
rpc_url_is_loopback(const char *url)
{
	char host[256];
	if (url == NULL || strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0)
		return true;
	if (!url_host(url, host, sizeof host))
		return false;
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 ||
	    strcmp(host, "::1") == 0;
}

/* Reads `path` (a NUL-terminated copy in *buf, length without the NUL in
 * *len) for the option `what`; INVALID_ARGUMENT naming both otherwise. */
static shoal_code
read_pem(const char *what, const char *path, char **buf, size_t *len, shoal_status *st)
{
	shoal_status rst;
	shoal_status_clear(&rst);
	if (util_read_file(path, buf, len, &rst) != SHOAL_OK)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s '%s' cannot be read: %s", what,
		    path, rst.msg);
	if (*len == 0) {
		free(*buf);
		*buf = NULL;
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s '%s' is empty", what, path);
	}
	return SHOAL_OK;
}

/* Frees a PEM private key's text after wiping it: no key left in freed
 * memory. */
static void
free_secret(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

static const char *
tls_err(int rv, char *buf, size_t cap)
{
	mbedtls_strerror(rv, buf, cap);
	return buf;
}

/* Parses the certificate(s) in pem into crt; checks the first is in its
 * validity period. */
static shoal_code
check_certs(const char *what, const char *path, const char *pem, size_t len,
    mbedtls_x509_crt *crt, shoal_status *st)
{
	char e[160];
	int rv = mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, len + 1);
	if (rv < 0 || crt->version == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s '%s' holds no valid PEM certificate (%s)", what, path,
		    rv < 0 ? tls_err(rv, e, sizeof e) : "none found");
	if (rv > 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s '%s': %d of its certificates cannot be parsed", what, path, rv);
	if (mbedtls_x509_time_is_past(&crt->valid_to))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s '%s': the certificate expired on %04d-%02d-%02d", what, path,
		    crt->valid_to.year, crt->valid_to.mon, crt->valid_to.day);
	if (mbedtls_x509_time_is_future(&crt->valid_from))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s '%s': the certificate is not valid before %04d-%02d-%02d", what, path,
		    crt->valid_from.year, crt->valid_from.mon, crt->valid_from.day);
	return SHOAL_OK;
}

#define WHAT_CERT "TLS certificate file (tls-cert)"
#define WHAT_KEY "TLS key file (tls-key)"
#define WHAT_CA "TLS CA file (tls-ca)"

/* The checks of rpc_tls_check; on OK the PEM texts (those configured) are
 * in *cert, *key, *ca (malloc'ed, caller frees). */
static shoal_code
load_checked(const rpc_tls_options *tls, bool server, char **cert, char **key, char **ca,
    shoal_status *st)
{
	size_t cert_len = 0, key_len = 0, ca_len = 0;
	char e[160];
	shoal_code rc = SHOAL_OK;

	*cert = *key = *ca = NULL;
	const char *cf = tls ? tls->cert_file : NULL, *kf = tls ? tls->key_file : NULL;
	const char *caf = tls ? tls->ca_file : NULL;
	if (cf && !*cf)
		cf = NULL;
	if (kf && !*kf)
		kf = NULL;
	if (caf && !*caf)
		caf = NULL;
	if (server && (cf == NULL || kf == NULL))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a tls+tcp:// server needs a certificate and its key (tls-cert and tls-key)");
	if (!server && caf == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a tls+tcp:// client needs the CA file that signed the server's certificate "
		    "(tls-ca)");
	if ((cf == NULL) != (kf == NULL))
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "tls-cert and tls-key go together: %s is set, %s is not", cf ? "tls-cert" : "tls-key",
		    cf ? "tls-key" : "tls-cert");
	if (server && tls->require_client_cert && caf == NULL)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "requiring client certificates (tls-require-client-cert) needs the CA file that "
		    "signs them (tls-ca)");

	mbedtls_x509_crt crt, cacrt;
	mbedtls_pk_context pk;
	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&cacrt);
	mbedtls_pk_init(&pk);
	if (cf != NULL) {
		if ((rc = read_pem(WHAT_CERT, cf, cert, &cert_len, st)) != SHOAL_OK ||
		    (rc = check_certs(WHAT_CERT, cf, *cert, cert_len, &crt, st)) != SHOAL_OK ||
		    (rc = read_pem(WHAT_KEY, kf, key, &key_len, st)) != SHOAL_OK)
			goto out;
		int rv = mbedtls_pk_parse_key(&pk, (const unsigned char *)*key, key_len + 1, NULL, 0);
		if (rv != 0) {
			rc = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    WHAT_KEY " '%s' holds no valid unencrypted PEM private key (%s)", kf,
			    tls_err(rv, e, sizeof e));
			goto out;
		}
		if ((rv = mbedtls_pk_check_pair(&crt.pk, &pk)) != 0) {
			rc = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    WHAT_KEY " '%s' is not the key of the certificate in '%s'", kf, cf);
			goto out;
		}
	}
	if (caf != NULL) {
		if ((rc = read_pem(WHAT_CA, caf, ca, &ca_len, st)) != SHOAL_OK ||
		    (rc = check_certs(WHAT_CA, caf, *ca, ca_len, &cacrt, st)) != SHOAL_OK)
			goto out;
	}
out:
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&cacrt);
	if (rc != SHOAL_OK) {
		free(*cert);
		free_secret(*key);
		free(*ca);
		*cert = *key = *ca = NULL;
	}
	return rc;
}

shoal_code
rpc_tls_check(const rpc_tls_options *tls, bool server, shoal_status *st)
{
	char *cert, *key, *ca;
	shoal_code rc = load_checked(tls, server, &cert, &key, &ca, st);
	free(cert);
	free_secret(key);
	free(ca);
	return rc;
}

shoal_code
rpc_tls_check_daemon(const char *listen, const rpc_tls_options *tls, shoal_status *st)
{
	shoal_code rc;
	if (rpc_url_is_tls(listen)) {
		if ((rc = rpc_tls_check(tls, true, st)) != SHOAL_OK) {
			shoal_status_prefix(st, "listen %s", listen);
			return rc;
		}
	} else if (tls != NULL && tls->require_client_cert) {
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "tls-require-client-cert needs a tls+tcp:// listen URL (listen is %s)", listen);
	}
	if (tls != NULL && tls->ca_file != NULL && *tls->ca_file != '\0')
		return rpc_tls_check(tls, false, st);
	return SHOAL_OK;
}

shoal_code
rpc_tls_config_new(const rpc_tls_options *tls, bool server, const char *url,
    nng_tls_config **out, shoal_status *st)
{
	char *cert, *key, *ca;
	nng_tls_config *cfg = NULL;
	shoal_code rc;
	int rv;

	*out = NULL;
	if ((rc = load_checked(tls, server, &cert, &key, &ca, st)) != SHOAL_OK)
		return rc;
	if ((rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT))
	    != 0) {
		rc = shoal_status_set(st, SHOAL_INTERNAL, "cannot set up TLS for %s: %s", url,
		    nng_strerror(rv));
		goto out;
	}
	/* TLS 1.2 at least; 1.3 where the engine has it (mbedTLS 2.28 does not) */
	if (nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_3) != 0)
		nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_2);
	if (cert != NULL && (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
		rc = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "cannot load the certificate '%s' and key '%s': %s", tls->cert_file, tls->key_file,
		    nng_strerror(rv));
		goto out;
	}
	if (ca != NULL && (rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0) {
		rc = shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "cannot load the CA file '%s': %s",
		    tls->ca_file, nng_strerror(rv));
		goto out;
	}
	if (server) {
		rv = nng_tls_config_auth_mode(cfg, tls->require_client_cert
		    ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE);
	} else {
		char host[256];
		const char *name = tls->server_name && *tls->server_name ? tls->server_name : NULL;
		if (name == NULL && url_host(url, host, sizeof host))
			name = host;
		if (name == NULL) {
			rc = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s names no host to verify the server's certificate against", url);
			goto out;
		}
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
		if (rv == 0)
			rv = nng_tls_config_server_name(cfg, name);
	}
	if (rv != 0)
		rc = shoal_status_set(st, SHOAL_INTERNAL, "cannot set up TLS for %s: %s", url,
		    nng_strerror(rv));
out:
	free(cert);
	free_secret(key);
	free(ca);
	if (rc != SHOAL_OK) {
		if (cfg != NULL)
			nng_tls_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return SHOAL_OK;
}
