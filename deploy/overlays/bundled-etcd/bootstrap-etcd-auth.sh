#!/usr/bin/env bash
# Turns on authentication in the bundled etcd (deploy/overlays/bundled-etcd) with one user per
# fedns process, identified by the common name of its client certificate (make-etcd-secrets.sh):
#
#   root       role root (administration; this script)
#   fedns      role fedns-controller: readwrite on PREFIX/, SHORT/ (short names), /fedns-serial/ (zone
#              serial markers, docs/zone-transfers.md) and election/fedns/
#   fedns-dns  role fedns-dns: read on PREFIX/, SHORT/ and /fedns-serial/ only (fedns serve loads and
#              watches, never writes)
#
# Run it once after the etcd pods are up (`kubectl -n fedns rollout status statefulset/fedns-etcd`).
# It is safe to run again: users and roles that exist are kept, permissions are granted again,
# and `auth enable` on an etcd with auth on changes nothing. Until it has run, etcd already
# requires a client certificate from the client CA but lets any such certificate do anything.
#
# etcdctl runs inside fedns-etcd-0 (kubectl exec; the etcd image has no shell but has etcdctl)
# with the root certificate mounted there. Set ETCDCTL to run it any other way, e.g. through a
# port-forward:  ETCDCTL="etcdctl --endpoints=https://127.0.0.1:2379 --cacert=ca.crt --cert=root.crt --key=root.key"
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: bootstrap-etcd-auth.sh [options]

  --namespace NS     namespace of the etcd StatefulSet (default: fedns)
  --prefix PREFIX    fedns's etcd.prefix (default: /skydns)
  --short-prefix SHORT  fedns's shortNames.prefix (default: /fedns-short)
  -h, --help         this text

Environment: ETCDCTL  the etcdctl command line to use (default: kubectl exec into fedns-etcd-0)
USAGE
}

die() {
  echo "bootstrap-etcd-auth.sh: $*" >&2
  exit 1
}

namespace="fedns"
prefix="/skydns"
short_prefix="/fedns-short"

while [[ $# -gt 0 ]]; do
  case "$1" in
  --namespace) namespace="${2:?--namespace needs a value}"; shift 2 ;;
  --prefix) prefix="${2:?--prefix needs a value}"; shift 2 ;;
  --short-prefix) short_prefix="${2:?--short-prefix needs a value}"; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# The record prefix as etcd keys start with it: leading slash kept, exactly one trailing slash.
[[ "$prefix" =~ ^/?[^/[:space:]]+(/[^/[:space:]]+)*/?$ ]] || die "--prefix must be a key prefix like /skydns"
records="${prefix%/}/"
[[ "$short_prefix" =~ ^/?[^/[:space:]]+(/[^/[:space:]]+)*/?$ ]] || die "--short-prefix must be a key prefix like /fedns-short"
short="${short_prefix%/}/"

if [[ -n "${ETCDCTL:-}" ]]; then
  read -r -a etcdctl <<<"$ETCDCTL"
else
  etcdctl=(kubectl -n "$namespace" exec -i fedns-etcd-0 -c etcd -- etcdctl
    --endpoints=https://127.0.0.1:2379
    --cacert=/etc/etcd/root/ca.crt --cert=/etc/etcd/root/tls.crt --key=/etc/etcd/root/tls.key)
fi

ctl() { ETCDCTL_API=3 "${etcdctl[@]}" "$@"; }

ctl endpoint health >/dev/null || die "etcd does not answer through: ${etcdctl[*]}"

ensure_user() { # name role
  if ! ctl user get "$1" >/dev/null 2>&1; then
    # No password: the user is whoever presents a client certificate with this common name.
    ctl user add "$1" --no-password >/dev/null
    echo "user $1 added"
  fi
  ctl user grant-role "$1" "$2" >/dev/null
}

ensure_role() { # name
  if ! ctl role get "$1" >/dev/null 2>&1; then
    ctl role add "$1" >/dev/null
    echo "role $1 added"
  fi
}

ensure_role root
ensure_user root root

ensure_role fedns-controller
ctl role grant-permission fedns-controller --prefix=true readwrite "$records" >/dev/null
ctl role grant-permission fedns-controller --prefix=true readwrite "$short" >/dev/null
ctl role grant-permission fedns-controller --prefix=true readwrite /fedns-serial/ >/dev/null
ctl role grant-permission fedns-controller --prefix=true readwrite election/fedns/ >/dev/null
ensure_user fedns fedns-controller

ensure_role fedns-dns
ctl role grant-permission fedns-dns --prefix=true read "$records" >/dev/null
ctl role grant-permission fedns-dns --prefix=true read "$short" >/dev/null
ctl role grant-permission fedns-dns --prefix=true read /fedns-serial/ >/dev/null
ensure_user fedns-dns fedns-dns

ctl auth enable >/dev/null
echo "bootstrap-etcd-auth.sh: auth on; fedns read-write on $records, $short, /fedns-serial/ and election/fedns/, fedns-dns read-only on $records, $short and /fedns-serial/"
