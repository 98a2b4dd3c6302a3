/* rpc_tls.h -- internal to common/: building nng TLS configs for rpc.c.
 *
 * The public part (rpc_tls_options, rpc_tls_check, rpc_url_is_tls,
 * rpc_url_is_loopback) is declared in rpc.h; this adds what only rpc.c
 * needs, so that rpc.h does not pull in nng's headers.
 */
#ifndef SHOAL_RPC_TLS_H
#define SHOAL_RPC_TLS_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "rpc.h"

/* Checks tls as rpc_tls_check(tls, server) does and builds the nng TLS
 * config for a listener (server) or a dialer of url: own certificate and
 * key when given, CA chain when given, peer verification (client: always,
 * against tls->server_name or else url's host; server: only with
 * require_client_cert).  On OK *out is the config with one reference held
 * by the caller (nng_tls_config_free after handing it to nng, which holds
 * its own).  INVALID_ARGUMENT naming the option and file otherwise. */
shoal_code rpc_tls_config_new(const rpc_tls_options *tls, bool server, const char *url,
    nng_tls_config **out, shoal_status *st);

#endif
