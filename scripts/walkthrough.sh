#!/usr/bin/env bash
# The README's "by hand" walkthrough on a fresh embedded store, in an order that works from
# nothing: every party is registered before it acts, the project before its credits. Each
# command is printed before it runs; the first one that fails stops the script non-zero.
#
# Usage: CREDIT_REGISTRY_PASSPHRASE=... CREDIT_REGISTRY_REGISTRY_PASSPHRASE=... \
#            scripts/walkthrough.sh [HOME]
# HOME, when given, must not exist yet and is kept; otherwise a temporary one is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CREDIT_REGISTRY_PASSPHRASE:?set it to the passphrase for the key files of the parties}"
: "${CREDIT_REGISTRY_REGISTRY_PASSPHRASE:?set it to the passphrase for the registry key}"
export CREDIT_REGISTRY_PASSPHRASE CREDIT_REGISTRY_REGISTRY_PASSPHRASE

if [ -x .venv/bin/credit-registry ]; then
  cli=.venv/bin/credit-registry
else
  cli=credit-registry
fi

if [ $# -ge 1 ]; then
  home="$1"
  if [ -e "$home" ]; then
    echo "$home exists; the walkthrough starts from a fresh home" >&2
    exit 2
  fi
else
  home="$(mktemp -d)"
  trap 'rm -rf "$home"' EXIT
fi

step() {
  printf '+ credit-registry --home %q' "$home"
  printf ' %q' "$@"
  printf '\n'
  "$cli" --home "$home" "$@"
}

# The value after NAME on the line "NAME value" of a command's output.
field() {
  awk -v name="$1" '$1 == name { print $2 }' <<<"$2"
}

operator=tokyo-62-secretariat
akishima=132071
iwaizumi=034835
issuer=jver-provider
batch=JVER-FOREST-20110401-20120331-001

step init --operator-id "$operator"

akishima_key="$(step keys new "$akishima")"
echo "$akishima_key"
iwaizumi_key="$(step keys new "$iwaizumi")"
echo "$iwaizumi_key"
issuer_key="$(step keys new "$issuer")"
echo "$issuer_key"

step register-party "$akishima" --role municipality \
  --public-key "$(field public_key "$akishima_key")" \
  --recovery-public-key "$(field recovery_public_key "$akishima_key")"
step register-party "$iwaizumi" --role municipality \
  --public-key "$(field public_key "$iwaizumi_key")"
step register-party "$issuer" --role issuer --name "J-VER provider" \
  --public-key "$(field public_key "$issuer_key")"

step register-class JVER --name J-VER --issuer "$issuer"
step register-project --as "$issuer" FOREST --class JVER --name "Iwaizumi forest absorption" \
  --location "Iwaizumi, Iwate" --methodology "J-VER forest management" --proponent "$iwaizumi"
step issue --as "$issuer" --project FOREST --vintage-start 2011-04-01 \
  --vintage-end 2012-03-31 --quantity-kg 100000 --to "$akishima"
step transfer --as "$akishima" --to "$iwaizumi" --quantity-kg 30000
step retire --as "$akishima" --quantity-kg 12000 --beneficiary 昭島市 \
  --purpose residual_emissions --year 2011
step balance "$akishima"

rotated="$(step keys rotate --as "$akishima")"  # the old key signs the new one in
echo "$rotated"
step keys revoke --as "$operator" --party "$akishima" \
  --key-id "$(field key_id "$rotated")" --reason "laptop stolen"
step recovery recover --as "$akishima"  # its recovery key signs a new key in
step cancel --as "$issuer" --holder "$akishima" --batch "$batch" \
  --quantity-kg 500 --reason "issued in error"  # the batch's issuer or the operator
step balance "$akishima"

step log
step relay --exit-when-caught-up  # to the embedded log in the same database
echo "walkthrough complete"
