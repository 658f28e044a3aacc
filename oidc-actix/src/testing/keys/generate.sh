#!/bin/sh
# Regenerates the fixed test keys. Run from this directory with OpenSSL 3, then paste the printed
# public components into `../keys.rs`. These keys are public knowledge: never trust them outside tests.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
for name in rsa-1 rsa-2 rsa-3 rsa-4 forger-rsa; do
    openssl genrsa -out "$tmp/$name.pem" 2048 2>/dev/null
    # PKCS#1 RSAPrivateKey: what `EncodingKey::from_rsa_der` (aws-lc `RsaKeyPair::from_der`) reads.
    openssl rsa -in "$tmp/$name.pem" -traditional -outform DER -out "$name.der" 2>/dev/null
    n=$(openssl rsa -in "$tmp/$name.pem" -noout -modulus | cut -d= -f2 | xxd -r -p | b64url)
    echo "$name n=$n"
done
for spec in p256:P-256:32 p384:P-384:48 forger-p256:P-256:32 forger-p384:P-384:48; do
    name=${spec%%:*}; rest=${spec#*:}; curve=${rest%%:*}; size=${rest#*:}
    # PKCS#8 with the public point inside, as `EncodingKey::from_ec_der` expects (genpkey alone
    # writes SEC1 `ECPrivateKey` in DER).
    openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" -out "$tmp/$name.pem"
    openssl pkcs8 -topk8 -nocrypt -in "$tmp/$name.pem" -outform DER -out "$name.der"
    openssl pkey -inform DER -in "$name.der" -pubout -outform DER -out "$tmp/$name.pub"
    point_len=$((2 * size + 1))
    tail -c "$point_len" "$tmp/$name.pub" > "$tmp/$name.point"
    x=$(dd if="$tmp/$name.point" bs=1 skip=1 count="$size" 2>/dev/null | b64url)
    y=$(dd if="$tmp/$name.point" bs=1 skip=$((1 + size)) count="$size" 2>/dev/null | b64url)
    echo "$name x=$x y=$y"
done
for name in ed25519 forger-ed25519; do
    # 48-byte PKCS#8 v1, as `EncodingKey::from_ed_der` expects.
    openssl genpkey -algorithm ED25519 -outform DER -out "$name.der"
    x=$(openssl pkey -inform DER -in "$name.der" -pubout -outform DER | tail -c 32 | b64url)
    echo "$name x=$x"
done
