#!/usr/bin/env bash
# Makes the certificates of the bundled etcd (deploy/overlays/bundled-etcd) with openssl and
# writes them as Kubernetes Secret manifests, ready for `kubectl apply -f`:
#
#   fedns-etcd-server-tls      etcd's serving certificate for clients (port 2379) + client CA
#   fedns-etcd-peer-tls        etcd's certificate between members (port 2380) + peer CA
#   fedns-etcd-root-tls        client certificate CN=root, for bootstrap-etcd-auth.sh (etcd pods)
#   fedns-etcd-controller-tls  client certificate CN=fedns, mounted into fedns-controller only
#   fedns-etcd-dns-tls         client certificate CN=fedns-dns, mounted into fedns-dns only
#
# Two CAs: one for clients, one for peers, so no client certificate can join the etcd cluster
# as a member. etcd runs with --client-cert-auth and takes the certificate's common name as
# the etcd user (no passwords): bootstrap-etcd-auth.sh then gives each user its role.
# The CA keys stay in OUT/pki (mode 0600): keep them offline, you need them to renew.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: make-etcd-secrets.sh [options]

  --out DIR          where to write pki/ and secrets.yaml (default: ./fedns-etcd-secrets)
  --namespace NS     namespace fedns is installed into (default: fedns)
  --service NAME     the etcd StatefulSet and its headless Service (default: fedns-etcd)
  --replicas N       etcd members (default: 3)
  --days N           validity of the certificates in days (default: 825; CAs 10 years)
  -h, --help         this text

Then:  kubectl apply -f DIR/secrets.yaml
USAGE
}

die() {
  echo "make-etcd-secrets.sh: $*" >&2
  exit 1
}

out="./fedns-etcd-secrets"
namespace="fedns"
service="fedns-etcd"
replicas=3
days=825

while [[ $# -gt 0 ]]; do
  case "$1" in
  --out) out="${2:?--out needs a value}"; shift 2 ;;
  --namespace) namespace="${2:?--namespace needs a value}"; shift 2 ;;
  --service) service="${2:?--service needs a value}"; shift 2 ;;
  --replicas) replicas="${2:?--replicas needs a value}"; shift 2 ;;
  --days) days="${2:?--days needs a value}"; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "unknown argument: $1" ;;
  esac
done

command -v openssl >/dev/null 2>&1 || die "openssl is not on PATH"
[[ "$replicas" =~ ^[1-9][0-9]?$ ]] || die "--replicas must be a number from 1 to 99"
[[ "$days" =~ ^[1-9][0-9]*$ ]] || die "--days must be a positive number"
[[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "--namespace must be a DNS label"
[[ "$service" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "--service must be a DNS label"
[[ -e "$out/pki/client-ca.key" ]] && die "$out already holds a CA: remove it or pick another --out"

umask 077
pki="$out/pki"
mkdir -p "$pki"

# Every name a member is reached by: short (through the pod's search path, as fedns.yaml
# writes it), namespaced, fully qualified, and loopback (etcdctl inside the pod). Node's TLS
# refuses two-label wildcards like *.fedns-etcd, so each member is listed by name.
sans="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:*.$service.$namespace.svc,DNS:*.$service.$namespace.svc.cluster.local"
for ((i = 0; i < replicas; i++)); do
  member="$service-$i"
  sans+=",DNS:$member.$service,DNS:$member.$service.$namespace.svc,DNS:$member.$service.$namespace.svc.cluster.local"
done

ca() { # name subject
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -days 3650 \
    -subj "/CN=$2" -keyout "$pki/$1.key" -out "$pki/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

cert() { # name ca common-name extendedKeyUsage [subjectAltName]
  local name="$1" issuer="$2" cn="$3" eku="$4" san="${5:-}"
  local ext="$pki/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    if [[ -n "$san" ]]; then echo "subjectAltName=$san"; fi
  } >"$ext"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -subj "/CN=$cn" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$issuer.crt" -CAkey "$pki/$issuer.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

ca client-ca "fedns etcd client CA"
ca peer-ca "fedns etcd peer CA"
# etcd also dials itself as a client (gRPC gateway), hence clientAuth on the server certificate.
cert server client-ca "$service" serverAuth,clientAuth "$sans"
cert peer peer-ca "$service" serverAuth,clientAuth "$sans"
# The common name is the etcd user (etcd --client-cert-auth).
cert root client-ca root clientAuth
cert controller client-ca fedns clientAuth
cert dns client-ca fedns-dns clientAuth
rm -f "$pki"/*.srl

b64() { base64 <"$1" | tr -d '\n'; }

secret() { # name cert ca [purpose]
  cat <<YAML
---
# $4
apiVersion: v1
kind: Secret
metadata:
  name: $1
  namespace: $namespace
  labels:
    app.kubernetes.io/name: fedns
    app.kubernetes.io/part-of: fedns
type: kubernetes.io/tls
data:
  ca.crt: $(b64 "$pki/$3.crt")
  tls.crt: $(b64 "$pki/$2.crt")
  tls.key: $(b64 "$pki/$2.key")
YAML
}

{
  echo "# Made by deploy/overlays/bundled-etcd/make-etcd-secrets.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Holds private keys."
  secret fedns-etcd-server-tls server client-ca "etcd serving clients; ca.crt verifies client certificates"
  secret fedns-etcd-peer-tls peer peer-ca "etcd between members; ca.crt verifies the other members"
  secret fedns-etcd-root-tls root client-ca "etcd user root (bootstrap-etcd-auth.sh, run inside the etcd pods)"
  secret fedns-etcd-controller-tls controller client-ca "etcd user fedns: the controller, read-write on the prefix"
  secret fedns-etcd-dns-tls dns client-ca "etcd user fedns-dns: the DNS servers, read-only on the prefix"
} >"$out/secrets.yaml"

echo "make-etcd-secrets.sh: wrote $out/secrets.yaml and $pki/ (CA keys: keep them offline)"
echo "next: kubectl apply -f $out/secrets.yaml, apply the overlay, then run bootstrap-etcd-auth.sh"
