#!/usr/bin/env bash
# Test certificates, made with the openssl command into DIR (keys mode 0600):
#   ca.pem ca.key              a test CA
#   server.pem server.key      for 127.0.0.1, ::1 and localhost, signed by the CA
#   client.pem client.key      a client certificate (mTLS), signed by the CA
#   expired.pem expired.key    for 127.0.0.1 and localhost, expired
#   otherhost.pem otherhost.key  for other.example only
#   other-ca.pem               another CA (trusting it must not trust server.pem)
#   server2.pem server2.key    a second certificate for 127.0.0.1 (rotation)
# Usage: make_certs.sh DIR
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077
q() { openssl "$@" >/dev/null 2>&1; }
q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 3 -subj "/CN=hsk test CA"
q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key -out other-ca.pem -days 3 -subj "/CN=other CA"
leaf() {  # leaf NAME SAN DAYS_OR_EXPIRED [clientAuth]
  local name=$1 san=$2 when=$3 usage=${4:-serverAuth}
  q req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$name"
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$san" "$usage" > "$name.ext"
  if [ "$when" = expired ]; then
    # Valid for one day, two days ago.
    q x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" -extfile "$name.ext" \
      -not_before "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -not_after "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" ||
    { # openssl before 3.4 has no -not_before: a backdated CA-signed certificate through `ca`
      mkdir -p ca.db && : > ca.db/index && echo 01 > ca.db/serial
      cat > ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca.db/index
serial = ca.db/serial
new_certs_dir = ca.db
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
CNF
      q ca -batch -config ca.cnf -in "$name.csr" -out "$name.pem" -extfile "$name.ext" \
        -startdate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)"
    }
  else
    q x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" -days "$when" -extfile "$name.ext"
  fi
  rm -f "$name.csr" "$name.ext"
}
leaf server "IP:127.0.0.1,IP:::1,DNS:localhost" 2
leaf server2 "IP:127.0.0.1,DNS:localhost" 2
leaf client "DNS:hsk-test-client" 2 clientAuth
leaf expired "IP:127.0.0.1,DNS:localhost" expired
leaf otherhost "DNS:other.example" 2
chmod 600 ./*.key
chmod 644 ./*.pem
[ -s expired.pem ] && [ -s server.pem ] && [ -s client.pem ] && [ -s otherhost.pem ]
