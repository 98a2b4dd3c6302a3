#!/usr/bin/env bash
# make-certs.sh -- a test CA and node certificates for shoal's tls+tcp://.
#
#   deploy/make-certs.sh DIR NAME [HOST ...]
#
# Makes DIR/ca.crt + DIR/ca.key (a new CA, only if DIR has none yet: later
# calls reuse it, so every node of a cluster shares one CA), then
# DIR/NAME.crt + DIR/NAME.key: a certificate signed by that CA whose subject
# alternative names are every HOST given plus localhost and 127.0.0.1.
# Each certificate is good both as a server certificate (a daemon's listen
# URL) and as a client certificate (the coordinator dialing workers, a
# worker registering, a CLI with --tls-cert), so one per node is enough.
#
# Names that are IP addresses are written twice, as IP and as DNS names:
# Debian's nng links mbedTLS 2.28, which checks a server's name only
# against DNS entries, so a client dialing tls+tcp://10.0.0.5:7701 needs
# "DNS:10.0.0.5" in the server's certificate (OpenSSL-based peers use the
# IP entry).
#
# Keys are ECDSA P-256 (fast handshakes), unencrypted, mode 600.
# Certificates are valid for SHOAL_CERT_DAYS days (default 825).
# This is for tests and small private clusters; a production cluster with
# its own PKI just points tls-cert / tls-key / tls-ca at its files.
set -euo pipefail

usage() {
  sed -n '3,5p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
dir=$1
name=$2
shift 2
[[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "make-certs: bad NAME '$name' (letters, digits, . _ -)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "make-certs: openssl not found (deploy/install-deps.sh installs it)" >&2; exit 1; }
days=${SHOAL_CERT_DAYS:-825}

mkdir -p "$dir"
umask 077
if [[ ! -f "$dir/ca.crt" || ! -f "$dir/ca.key" ]]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" \
    -subj "/CN=shoal test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.crt"
  chmod 644 "$dir/ca.crt"
  echo "make-certs: new CA $dir/ca.crt"
fi

sans="DNS:localhost,IP:127.0.0.1,DNS:127.0.0.1"
for h in "$@"; do
  [[ "$h" =~ ^[A-Za-z0-9.:_-]+$ ]] || { echo "make-certs: bad HOST '$h'" >&2; exit 2; }
  if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then
    sans+=",IP:$h,DNS:$h"
  else
    sans+=",DNS:$h"
  fi
done

ext=$(mktemp)
trap 'rm -f "$ext" "$dir/$name.csr"' EXIT
cat >"$ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$sans
EOF
openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$name.key" 2>/dev/null
openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr"
openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
  -CAcreateserial -days "$days" -sha256 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
chmod 644 "$dir/$name.crt"
chmod 600 "$dir/$name.key"
echo "make-certs: $dir/$name.crt ($sans)"
