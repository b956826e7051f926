#!/usr/bin/env bash
# Makes the development PKI that the demo, the tests and the example configs
# use. Never use these certificates outside development: the keys are not
# encrypted and the CA key sits next to the certificates.
#
#   certs/make-certs.sh [DIR]      DIR defaults to certs/dev next to this script
#
# Files written into DIR:
#   ca.crt ca.key                  development CA (EC P-256, 10 years)
#   server.crt server.key          localhost, 127.0.0.1, ::1 (serverAuth)
#   server-chain.crt               server.crt followed by ca.crt
#   other.crt other.key            other.test, *.wild.test (for SNI tests)
#   client.crt client.key          CN=tether-test-client (clientAuth, for mTLS)
#   untrusted-ca.crt untrusted-ca.key
#                                  a second, independent CA
#   untrusted.crt untrusted.key    localhost, 127.0.0.1, ::1 signed by the
#                                  untrusted CA (negative verification tests)
#
# Idempotent: when every file exists, the server certificate still verifies
# against the CA and does not expire within 30 days, nothing is touched.
# Otherwise the whole set is made anew, so that it always stays consistent.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out_dir=${1:-"$script_dir/dev"}

# Leaf lifetime stays at 825 days because some TLS clients (Apple's) reject
# server certificates that live longer.
ca_days=3650
leaf_days=825
renew_seconds=$((30 * 24 * 3600))

files=(ca.crt ca.key server.crt server.key server-chain.crt other.crt other.key
       client.crt client.key untrusted-ca.crt untrusted-ca.key untrusted.crt untrusted.key)

command -v openssl >/dev/null || { echo "certs: openssl not found" >&2; exit 1; }
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

# Tests running in parallel may all call this script; the lock makes the
# losers wait and then find the certificates up to date.
if command -v flock >/dev/null; then
  exec 9>"$out_dir/.lock"
  flock 9
fi

up_to_date() {
  local f
  for f in "${files[@]}"; do
    [[ -s "$out_dir/$f" ]] || return 1
  done
  openssl x509 -checkend "$renew_seconds" -noout -in "$out_dir/server.crt" >/dev/null 2>&1 || return 1
  openssl x509 -checkend "$renew_seconds" -noout -in "$out_dir/ca.crt" >/dev/null 2>&1 || return 1
  openssl verify -CAfile "$out_dir/ca.crt" "$out_dir/server.crt" >/dev/null 2>&1 || return 1
}

if up_to_date; then
  echo "certs: up to date"
  exit 0
fi

# Everything is made in a scratch directory and moved into place at the end,
# so an interrupted run never leaves a half-made set that looks complete.
work=$(mktemp -d "$out_dir/.make-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
umask 077

cat >"$work/ext.cnf" <<'EOF'
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused

[ ca ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ other ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.test, DNS:*.wild.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key" 2>/dev/null
}

# Random serials: browsers remember certificates by issuer and serial, and a
# re-made certificate with an old serial confuses them.
serial() {
  echo "0x$(openssl rand -hex 16)"
}

# make_ca NAME SUBJECT
make_ca() {
  new_key "$1"
  openssl req -x509 -new -config "$work/ext.cnf" -extensions ca -sha256 \
    -key "$work/$1.key" -subj "$2" -days "$ca_days" -set_serial "$(serial)" \
    -out "$work/$1.crt"
}

# make_leaf NAME SUBJECT EXTENSIONS CA
make_leaf() {
  new_key "$1"
  openssl req -new -config "$work/ext.cnf" -key "$work/$1.key" -subj "$2" -out "$work/$1.csr"
  openssl x509 -req -in "$work/$1.csr" -sha256 -days "$leaf_days" -set_serial "$(serial)" \
    -CA "$work/$4.crt" -CAkey "$work/$4.key" \
    -extfile "$work/ext.cnf" -extensions "$3" -out "$work/$1.crt" 2>/dev/null
}

make_ca ca "/O=tether development/CN=tether development CA"
make_leaf server "/O=tether development/CN=localhost" server ca
make_leaf other "/O=tether development/CN=other.test" other ca
make_leaf client "/O=tether development/CN=tether-test-client" client ca
cat "$work/server.crt" "$work/ca.crt" >"$work/server-chain.crt"

make_ca untrusted-ca "/O=tether untrusted/CN=tether untrusted CA"
make_leaf untrusted "/O=tether untrusted/CN=localhost" server untrusted-ca

# Check before installing: a broken set must not replace a working one.
check() {
  local out
  out=$("$@" 2>&1) || { echo "certs: check failed: ${*##*/}" >&2; echo "$out" >&2; exit 1; }
}
check openssl verify -CAfile "$work/ca.crt" -purpose sslserver "$work/server.crt" "$work/other.crt"
check openssl verify -CAfile "$work/ca.crt" -purpose sslclient "$work/client.crt"
check openssl verify -CAfile "$work/ca.crt" -untrusted "$work/server-chain.crt" "$work/server-chain.crt"
check openssl verify -CAfile "$work/untrusted-ca.crt" -purpose sslserver "$work/untrusted.crt"
if openssl verify -CAfile "$work/ca.crt" "$work/untrusted.crt" >/dev/null 2>&1; then
  echo "certs: untrusted.crt unexpectedly verifies against ca.crt" >&2
  exit 1
fi

# Certificates are public; keys stay readable by their owner only.
for f in "${files[@]}"; do
  case "$f" in
    *.crt) chmod 644 "$work/$f" ;;
    *.key) chmod 600 "$work/$f" ;;
  esac
  mv -f "$work/$f" "$out_dir/$f"
done

cd "$out_dir"
openssl verify -CAfile ca.crt server.crt other.crt client.crt
openssl verify -CAfile untrusted-ca.crt untrusted.crt
echo "certs: made a new development CA and certificates in $out_dir"
