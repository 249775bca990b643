#!/usr/bin/env bash
# The README's "Five minutes with curl", runnable. Each step prints the
# command as the README shows it and the answer, and the tour stops (exit 1)
# at the first answer that is not the one the README describes. The test
# suite runs it against a real `idstore serve` (tests/tests/integration/
# tour.rs), so the README cannot drift from what idstore answers.
#
# Needs curl and python3, and a running idstore on a database nobody has used
# yet: the tour creates the user ann@example.com, so a second run on the same
# database stops at that step (409).
#
#   BASE_URL       where idstore listens (default http://127.0.0.1:8080)
#   CLIENT_ID      the database's admin client, made when it was bootstrapped
#   CLIENT_SECRET
#
# None of them is an IDSTORE_ variable: idstore refuses unknown ones, and the
# README exports these in the shell that starts the server.
#
# A database gets its admin client once, on bootstrap, and a generated secret
# is shown only then:
#   - the first `idstore serve` on an empty database prints
#       admin client_id:     ...
#       admin client_secret: ...
#     on the terminal, or, when its stdout is not one, writes them to
#     <data_dir>/bootstrap-admin-<tenant>.json (readable by its owner only)
#     and logs that path; `idstore bootstrap`, run before it, prints them on
#     stdout (`--output json` for scripts);
#   - or choose both before that first start, and nothing is printed:
#       export CLIENT_ID=tour-admin CLIENT_SECRET=$(head -c 24 /dev/urandom | base64)
#       IDSTORE_BOOTSTRAP_CLIENT_ID=$CLIENT_ID IDSTORE_BOOTSTRAP_CLIENT_SECRET=$CLIENT_SECRET \
#         idstore serve --database-name idstore_tour &
#       examples/tour.sh
set -euo pipefail

BASE_URL=${BASE_URL:-http://127.0.0.1:8080}
BASE_URL=${BASE_URL%/}
: "${CLIENT_ID:?set CLIENT_ID and CLIENT_SECRET to the admin client (see the top of $0)}"
: "${CLIENT_SECRET:?set CLIENT_ID and CLIENT_SECRET to the admin client (see the top of $0)}"
TOKEN=
USER_ID=
APP_ID=
hint=

for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "tour.sh needs $tool" >&2
    exit 1
  }
done

# Shims of Python version managers (pyenv) cost a few hundred milliseconds a
# start; the interpreter behind them does not.
python=$(python3 -c 'import sys; print(sys.executable or "python3")')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  printf 'FAILED: %s\n' "$1" >&2
  if [[ -n $hint ]]; then printf '  %s\n' "$hint" >&2; fi
  exit 1
}

step() {
  hint=
  printf '\n== %s\n' "$1"
}

# Steps are written with the variable names left unexpanded ('$TOKEN'), so
# that a step can print itself exactly as a reader types it, never with the
# secret or the token in it; only these names are filled in, nothing is
# evaluated.
expand() {
  local a=$1
  a=${a//'$BASE_URL'/"$BASE_URL"}
  a=${a//'$CLIENT_ID'/"$CLIENT_ID"}
  a=${a//'$CLIENT_SECRET'/"$CLIENT_SECRET"}
  a=${a//'$TOKEN'/"$TOKEN"}
  a=${a//'$USER_ID'/"$USER_ID"}
  a=${a//'$APP_ID'/"$APP_ID"}
  printf '%s' "$a"
}

# Quoted as the README quotes: double quotes where a variable must expand,
# single quotes around anything else the shell would split or interpret.
shown() {
  local out=() arg
  for arg in "$@"; do
    if [[ $arg == *'$'* ]]; then
      out+=("\"$arg\"")
    elif [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      out+=("$arg")
    else
      out+=("'$arg'")
    fi
  done
  printf '%s' "${out[*]}"
}

# request STATUS FLAGS ARG...: `curl FLAGS ARG...`, printed, then its answer
# (with the headers for -si); stops the tour unless the status is STATUS.
request() {
  local want=$1 flags=$2 status arg
  shift 2
  local args=()
  for arg in "$@"; do args+=("$(expand "$arg")"); done
  printf '$ curl %s %s\n' "$flags" "$(shown "$@")"
  status=$(curl -sS --max-time 10 -o "$work/body" -D "$work/headers" -w '%{http_code}' "${args[@]}") ||
    fail "no answer from $BASE_URL"
  if [[ $flags == -si ]]; then
    tr -d '\r' <"$work/headers"
  else
    echo "HTTP $status"
  fi
  cat "$work/body"
  echo
  [[ $status == "$want" ]] || fail "expected HTTP $want, got $status"
}

# json EXPR [ARG]: the Python expression EXPR over the last answer's body
# (bound to r, ARG to arg), printed; JSON for anything but a string.
json() {
  "$python" - "$work/body" "$@" <<'PY'
import json, sys
body, expr = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else None
try:
    with open(body) as f:
        value = eval(expr, {"r": json.load(f), "arg": arg})
except Exception as e:
    sys.exit(f"FAILED: {expr}: {e!r}")
print(value if isinstance(value, str) else json.dumps(value))
PY
}

# expect EXPR [ARG]: the last answer satisfies EXPR, or the tour stops.
expect() {
  local verdict
  verdict=$(json "$@") || exit 1
  [[ $verdict == true ]] || fail "expected $1${2:+ (arg = $2)}"
}

# `serve &` followed at once by this script must not fail on a server that
# is still starting; a server that never answers still fails below.
for _ in $(seq 1 60); do
  curl -s --max-time 2 -o /dev/null "$BASE_URL/healthz" && break
  sleep 1
done

step "Liveness: the process is up"
request 200 -s '$BASE_URL/healthz'
expect 'r == {"status": "ok"}'

step "Readiness: the database answers and has the schema this binary expects"
request 200 -s '$BASE_URL/readyz'
expect 'r == {"status": "ready", "breached_passwords": {"entries": 0}}'

step "An admin access token (client_credentials with the admin client)"
hint="the admin client is made on a database's first start only: use the credentials of that start"
request 200 -s '$BASE_URL/oidc/token' -d grant_type=client_credentials \
  --data-urlencode 'client_id=$CLIENT_ID' --data-urlencode 'client_secret=$CLIENT_SECRET'
expect 'r["token_type"] == "Bearer" and r["access_token"].count(".") == 2'
TOKEN=$(json 'r["access_token"]')

step "An application, with a default client whose secret this answer shows once"
request 201 -s -H 'authorization: Bearer $TOKEN' -H 'content-type: application/json' \
  -d '{"app_name":"shop","client_display_name":"web","redirect_uris":["https://shop.example/cb"]}' \
  '$BASE_URL/v1/applications'
expect 'r["result"]["app_name"] == "shop" and len(r["result"]["client_secret"]) > 0'
APP_ID=$(json 'r["result"]["app_id"]')

step "The tenant's applications: the management one and shop"
request 200 -s -H 'authorization: Bearer $TOKEN' '$BASE_URL/v1/applications'
expect 'any(a["app_id"] == arg and a["app_name"] == "shop" for a in r["result"])' "$APP_ID"
expect 'any(a["app_name"] == "Management" for a in r["result"])'

step "A second client of shop whose tokens live five minutes"
request 201 -s -H 'authorization: Bearer $TOKEN' -H 'content-type: application/json' \
  -d '{"name":"batch","redirect_uris":[],"token_expiration":{"access_token_ttl":300}}' \
  '$BASE_URL/v1/applications/$APP_ID/clients'
expect 'r["token_expiration"]["access_token_ttl"] == 300 and len(r["client_secret"]) > 0'

step "A user; the email is stored lower-cased"
hint="ann@example.com exists already if the tour ran on this database before: use a fresh one"
request 201 -s -H 'authorization: Bearer $TOKEN' -H 'content-type: application/json' \
  -d '{"email":"Ann@Example.com","phone_number":"+12125550100","custom_data":{"tier":"gold"}}' \
  '$BASE_URL/v1/users'
expect 'r["result"]["email"]["value"] == "ann@example.com" and r["result"]["custom_data"] == {"tier": "gold"}'
USER_ID=$(json 'r["result"]["user_id"]')

step "The user, by email"
request 200 -s -H 'authorization: Bearer $TOKEN' '$BASE_URL/v1/users/email/ann@example.com'
expect 'r["result"]["user_id"] == arg' "$USER_ID"

step "An update: custom_data merges, null removes a key"
request 200 -s -H 'authorization: Bearer $TOKEN' -X PUT -H 'content-type: application/json' \
  -d '{"custom_data":{"tier":null,"seen":true}}' '$BASE_URL/v1/users/$USER_ID'
expect 'r["result"]["custom_data"] == {"seen": True}'

step "A SCIM search"
request 200 -s -H 'authorization: Bearer $TOKEN' -G '$BASE_URL/v1/users' \
  --data-urlencode 'search=custom_data.seen eq true and email sw "ann"' -d page_limit=50
expect 'r["total_count"] == 1 and [u["user_id"] for u in r["result"]] == [arg]' "$USER_ID"

step "A count"
request 200 -s -H 'authorization: Bearer $TOKEN' '$BASE_URL/v1/users/count'
expect 'r["result"]["user_count"] == 1'

step "Nothing without a token"
request 401 -si '$BASE_URL/v1/applications'
expect 'r["error_code"] == 401'

step "Your request id, echoed, to quote when you report an error"
request 200 -si -H 'x-request-id: my-trace-1' '$BASE_URL/healthz'
tr -d '\r' <"$work/headers" | grep -qix 'x-request-id: my-trace-1' ||
  fail "expected the response header x-request-id: my-trace-1"

printf '\nThe tour ran as the README shows it.\n'
