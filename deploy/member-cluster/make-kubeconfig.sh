#!/usr/bin/env bash
# Turns the fedns-reader ServiceAccount of one member cluster (deploy/member-cluster)
# into a self-contained kubeconfig for the fedns controller. The cluster, user and
# context in it are all named after the member cluster, so several of these files
# merge cleanly (KUBECONFIG=a:b:c kubectl config view --flatten) and each context
# becomes one member cluster of that name.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: make-kubeconfig.sh [options]

  --context CTX      kubectl context of the member cluster (default: the current context)
  --name NAME        name of the member cluster in fedns; names the context, cluster and user
                     (default: the context name; must be a DNS label)
  --server URL       API server URL as the fedns controller reaches it
                     (default: the server of CTX in your kubeconfig)
  --namespace NS     namespace of the fedns-reader ServiceAccount (default: fedns-member)
  --secret NAME      token Secret (default: fedns-reader-token)
  --output FILE      where to write the kubeconfig (default: ./NAME.kubeconfig)
  --no-verify        do not check the new kubeconfig's permissions against the cluster
  -h, --help         this text

The output holds a bearer token: it is written with mode 0600. Put it in the
fedns-member-kubeconfigs Secret of the host cluster and delete the local copy.
USAGE
}

die() {
  echo "make-kubeconfig.sh: $*" >&2
  exit 1
}

context=""
name=""
server=""
namespace="fedns-member"
secret="fedns-reader-token"
output=""
verify=true

while [[ $# -gt 0 ]]; do
  case "$1" in
  --context) context="${2:?--context needs a value}"; shift 2 ;;
  --name) name="${2:?--name needs a value}"; shift 2 ;;
  --server) server="${2:?--server needs a value}"; shift 2 ;;
  --namespace) namespace="${2:?--namespace needs a value}"; shift 2 ;;
  --secret) secret="${2:?--secret needs a value}"; shift 2 ;;
  --output) output="${2:?--output needs a value}"; shift 2 ;;
  --no-verify) verify=false; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "unknown argument: $1" ;;
  esac
done

command -v kubectl >/dev/null 2>&1 || die "kubectl is not on PATH"

if [[ -z "$context" ]]; then
  context="$(kubectl config current-context 2>/dev/null)" || die "no --context given and no current context"
fi
name="${name:-$context}"
if [[ ! "$name" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]]; then
  die "cluster name '$name' is not a DNS label (lowercase letters, digits, '-', at most 63): pass --name"
fi
output="${output:-./$name.kubeconfig}"

member=(kubectl --context "$context")

if [[ -z "$server" ]]; then
  server="$(kubectl config view --minify --context "$context" -o 'jsonpath={.clusters[0].cluster.server}')" ||
    die "cannot read the API server of context '$context' from your kubeconfig"
  [[ -n "$server" ]] || die "context '$context' has no API server URL: pass --server"
fi

# The token controller fills the Secret asynchronously after it is created.
token=""
ca=""
for _ in $(seq 1 30); do
  token="$("${member[@]}" -n "$namespace" get secret "$secret" -o 'go-template={{if .data.token}}{{.data.token | base64decode}}{{end}}')" ||
    die "cannot read Secret $namespace/$secret in context '$context' (did you apply deploy/member-cluster there?)"
  ca="$("${member[@]}" -n "$namespace" get secret "$secret" -o 'jsonpath={.data.ca\.crt}')"
  [[ -n "$token" && -n "$ca" ]] && break
  sleep 1
done
[[ -n "$token" ]] || die "Secret $namespace/$secret has no token after 30 s: is the ServiceAccount token controller running?"
[[ -n "$ca" ]] || die "Secret $namespace/$secret has no ca.crt"

# Written through a temp file with a private umask: the token never appears in argv
# and a half-written kubeconfig never replaces a good one.
umask 077
tmp="$(mktemp "$output.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
cat >"$tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: $name
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: fedns-$name
    user:
      token: $token
contexts:
  - name: $name
    context:
      cluster: $name
      user: fedns-$name
current-context: $name
KUBECONFIG

if [[ "$verify" == true ]]; then
  new=(kubectl --kubeconfig "$tmp" --context "$name")
  for check in "list services" "watch services" "list endpointslices.discovery.k8s.io" \
    "watch endpointslices.discovery.k8s.io" "list nodes" "watch nodes"; do
    # shellcheck disable=SC2086 # $check is two words on purpose: verb and resource
    "${new[@]}" auth can-i $check --all-namespaces >/dev/null 2>&1 ||
      die "the new credentials cannot '$check' (is the ClusterRoleBinding fedns-reader applied? is --server reachable?)"
  done
  if "${new[@]}" auth can-i get secrets --all-namespaces >/dev/null 2>&1; then
    echo "make-kubeconfig.sh: warning: fedns-reader can read Secrets; it needs only services, endpointslices and nodes" >&2
  fi
fi

mv "$tmp" "$output"
trap - EXIT
echo "wrote $output (member cluster '$name', server $server)"
