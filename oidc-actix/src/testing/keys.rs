//! Fixed signing keys for tests, with their public JWKs.
//!
//! The private keys are committed DER files under `keys/` (regenerate them with
//! `keys/generate.sh`, which prints the public components pasted below). Fixed keys keep tests
//! fast and reproducible, and anyone can read them: they must never protect anything real.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::Algorithm;

/// The JWS signing input (RFC 7515 §5.1): `header` and `payload` base64url-encoded as they are,
/// joined by a dot.
pub(crate) fn signing_input(header: &[u8], payload: &[u8]) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    )
}

/// The key material behind a [`TestKey`]: which private key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Material {
    /// One of the four RSA-2048 keys, numbered from 1.
    Rsa(u8),
    P256,
    P384,
    Ed25519,
    /// Keys never published by anyone: what a forger signs with.
    ForgerRsa,
    ForgerP256,
    ForgerP384,
    ForgerEd25519,
}

/// The public half of a key, as the JWK members that carry it.
enum PublicKey {
    Rsa {
        n: &'static str,
    },
    Ec {
        crv: &'static str,
        x: &'static str,
        y: &'static str,
    },
    Okp {
        x: &'static str,
    },
}

impl Material {
    /// The private key: PKCS#1 `RSAPrivateKey` for RSA, PKCS#8 for EC and Ed25519 (the formats
    /// `jsonwebtoken::EncodingKey::from_{rsa,ec,ed}_der` read).
    fn private_der(self) -> &'static [u8] {
        match self {
            Self::Rsa(1) => include_bytes!("keys/rsa-1.der"),
            Self::Rsa(2) => include_bytes!("keys/rsa-2.der"),
            Self::Rsa(3) => include_bytes!("keys/rsa-3.der"),
            Self::Rsa(_) => include_bytes!("keys/rsa-4.der"),
            Self::P256 => include_bytes!("keys/p256.der"),
            Self::P384 => include_bytes!("keys/p384.der"),
            Self::Ed25519 => include_bytes!("keys/ed25519.der"),
            Self::ForgerRsa => include_bytes!("keys/forger-rsa.der"),
            Self::ForgerP256 => include_bytes!("keys/forger-p256.der"),
            Self::ForgerP384 => include_bytes!("keys/forger-p384.der"),
            Self::ForgerEd25519 => include_bytes!("keys/forger-ed25519.der"),
        }
    }

    fn public(self) -> PublicKey {
        match self {
            Self::Rsa(1) => PublicKey::Rsa {
                n: "oqZ8WzUOUNnEQmRAZ3Bb25GhohInjCy5s0U2Ojs7HCdmgWtBjnaeqtYjeb5qWFyTziHvkHQhSBmIISZEAqJF-zugV-cRWU5jXW4zbeCug1XRmPwQbAMrEw-qNo4o4oMflVgzWoUH4QzkNEviTcdD7W8VbzHjOtjqFcIg6HZ1HKRmlYS1-zae7wsHTQoI-g4BuU0FAW4RxVHIgqIy58hEsn3hIIh1eiohum3ZaLMitKde3nUFXocewXgdDX7Na2bL3voxuE2Wi8JUYfJosBHRI7bhB8n-VhBngF64vuhGEh-hGx9Bk_efhuIleT-lg0l7yZFqi1MSNN10ClPkUn6y5w",
            },
            Self::Rsa(2) => PublicKey::Rsa {
                n: "zTb5tnPVqOpDtVV72-MM7Y1Vi9NvfKvhb_nFy7E6Z5DxOj0Pstxn7cpYnewM4xBQX2o_tiIyYZ5BGtHxdirjpU4fW5GzTOK4y3kdrgnHhZkPakbmSI1x9LlJPQQ2HXIJpcrGR_xicDXOWbz8zVx_DtUaVaLEfIhVE7hfVblNtCXm7o8RJ_o2tZ0siW05TM0-seP8RjJf6IQPK1N2rI3-tgqHwx1Bh98zZebjkQk8mIDhZjyw80qk72OPhPOZuoHsOW_GVVSl10r7HeXiudQSETQAy7cebVwHWiRY3_MYqpPnWdOGSD7hLGM9-Tn9azCix1_lL9u5vGycjmZFwodTZQ",
            },
            Self::Rsa(3) => PublicKey::Rsa {
                n: "lsk0pRCpvvL-tt8hmJQC_gmXYfHE2Fxp5jEaeVtHSL4ly3XtuVksyX9iWR18bQNVUnQiw7klHa2h2OSPuQWHQ4qWJeJZaZtXtju-5-Kz5zao3Ksh-OTpnBA_oyX31M2w5V4--hYudNng7D50B0ZkUGQLp9iKWacvXH5nHv2lYP6NrIa1Qt_Xe0tFtlb4oyKuC1JKQLeui1hI397ttHORmctovfR8SSYB6Oifba4HVa1eEMPbSeG41fgylyCZBJd2Nnr6wWtkZXxX4qSA-RhdOm-MwanD2rNP-wiPKCn1GB9XLQicNybhwAkt8zNbkwyEcbJqfC13PtUrGWpTyuARvQ",
            },
            Self::Rsa(_) => PublicKey::Rsa {
                n: "3sMiYQhX_Z44NGTMdTIcQ4wJT-tKuSHo3EasBxJ4ErpsqMbKLPNwxS7gzjp6pDXHKdehNiyZVlur9K6aG2O__oxjbiEQQKL1DdubTGzDykLuc-REFUkd7EQXgI01y5su1SF3fjTBoM82SxlwljzZ-bNBurbOf8eX1pfGXwrGpWQEnWqI5oY24ThgYXa4xVybwxQf_uL5zkd3zDP0cpPm7Q52tJak6l274MnH1KNBnGX05RtGlPbnXT-LCVx0z7iAPrlTuL2ziXA1hs7mTEM3tt6Uc2vixL5Z9s0FQbOqi0SESz5w4ZXsgggWl42OaJBDiNZ5CihVwRc-hUOeKJ0CQw",
            },
            Self::P256 => PublicKey::Ec {
                crv: "P-256",
                x: "GRspbEn4ZJy-eQyBKQH1k07hoeJz2hG7lWyOMVg9TO8",
                y: "Q_kk-pvjgUJZ-b3M_Ir77DpftPzsOFsPtre5nHNvRd0",
            },
            Self::P384 => PublicKey::Ec {
                crv: "P-384",
                x: "FfRY3HOOZOvkKXqKabMuULj9xzlvj9IovMtgt0M5wkG7AuoMXH4sp7n0JtTADXGE",
                y: "LC5HiToJ-Ni_9MDSjCe4xi4N77_wtrVsFivcRARmOU2i2sXxOD5N2I1a4f7jVB8P",
            },
            Self::Ed25519 => PublicKey::Okp {
                x: "IFXLr8O0IrQoUcjemRonhxYI4ws1B2t9LVeAjLiU8zI",
            },
            Self::ForgerRsa => PublicKey::Rsa {
                n: "rs83GwLZLW6DNmDuYPIxkU99MsaRl_Cjk0yksndH_KKgPuGj35pLNLyUI0-jYT37FI4jml5gz4QG4xKy4I_05hvI5j4kL0zs2FgD1K1f_YocrUHuIznjvUqyvN2gN5XrO8OWdbtJz_tk70fJpTeAYThhCzvw2rMvtKq2YlEaSxiVSXHX19zlp71FiexlysDSf8RlAzd1MIRP9HqvwWXxDmub8M_FXj0ncXNeyTW-M--WDWzcPXhwfpPazdOMbkLiMTIA_GwZWHEmAgzdQsaEvMdjOpNcQBgSFZhzWtpHNuQGMMK7Faxp8lnOQRyiyz0TZ7OML6Yiw32Nff3AnfdZ8w",
            },
            Self::ForgerP256 => PublicKey::Ec {
                crv: "P-256",
                x: "W9PZkCYnk5xhxJLAXNDJHidQWQ9frNjGGe8rdogG0UE",
                y: "-OxBKX-GVttuaUlXx6ZKBOygMAns6UYHbwKpP3aBEZw",
            },
            Self::ForgerP384 => PublicKey::Ec {
                crv: "P-384",
                x: "F5YMXdliBjgFcHc17aNt3dJ00ev1XkO9CVz1gdV40EW6S2huTbzYX4iAMGRFAMnN",
                y: "3wPMHH5n5rM6nbEPzWp2hEE8wKe3HPtXmgmkZfr20GnEHZRzilBBl-hbpZJ28Bqf",
            },
            Self::ForgerEd25519 => PublicKey::Okp {
                x: "BB5uRZD-ZGOwBJxQXHA_1tf4p32r76P3IsjGlQ-c6iY",
            },
        }
    }

    /// The never-published key of the same type and curve.
    pub(crate) fn forger(self) -> Self {
        match self {
            Self::Rsa(_) | Self::ForgerRsa => Self::ForgerRsa,
            Self::P256 | Self::ForgerP256 => Self::ForgerP256,
            Self::P384 | Self::ForgerP384 => Self::ForgerP384,
            Self::Ed25519 | Self::ForgerEd25519 => Self::ForgerEd25519,
        }
    }

    /// A compact JWS over exactly `header` and `payload`, signed with `alg`: the kit's one
    /// signing primitive.
    pub(crate) fn sign_compact(self, alg: Algorithm, header: &[u8], payload: &[u8]) -> String {
        let input = signing_input(header, payload);
        let signature = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &self.encoding_key(),
            alg.to_jsonwebtoken(),
        )
        // The embedded keys are valid for their algorithms: the unit tests below sign
        // with every one of them.
        .unwrap_or_else(|e| panic!("an embedded test key signs with {alg}: {e}"));
        format!("{input}.{signature}")
    }

    /// The key `jsonwebtoken` signs with.
    pub(crate) fn encoding_key(self) -> jsonwebtoken::EncodingKey {
        let der = self.private_der();
        match self.public() {
            PublicKey::Rsa { .. } => jsonwebtoken::EncodingKey::from_rsa_der(der),
            PublicKey::Ec { .. } => jsonwebtoken::EncodingKey::from_ec_der(der),
            PublicKey::Okp { .. } => jsonwebtoken::EncodingKey::from_ed_der(der),
        }
    }

    /// The public JWK of this material, bound to `alg` and published under `kid`.
    fn jwk(self, alg: Algorithm, kid: &str) -> Value {
        let mut jwk = match self.public() {
            PublicKey::Rsa { n } => json!({"kty": "RSA", "n": n, "e": "AQAB"}),
            PublicKey::Ec { crv, x, y } => json!({"kty": "EC", "crv": crv, "x": x, "y": y}),
            PublicKey::Okp { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
        };
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(alg.name());
        jwk
    }
}

/// A fixed signing key of the test kit: one private key bound to one algorithm, published as a
/// JWK with its own `kid`, `use: "sig"` and `alg`.
///
/// There is a key for every [`Algorithm`] (the first nine variants, also
/// [`TestKey::PER_ALGORITHM`]), and three more RSA keys with RS256 that
/// [`MockIdp::rotate`](super::MockIdp::rotate) moves to in turn. The RS\*/PS\* variants share
/// one RSA key but are separate JWKs with their own `kid`, because a JWK with an `alg` verifies
/// that algorithm only.
///
/// Every key is compiled into the crate and public: use them in tests only.
///
/// ```
/// use oidc_actix::Algorithm;
/// use oidc_actix::testing::TestKey;
///
/// assert_eq!(TestKey::Es256.algorithm(), Algorithm::ES256);
/// assert_eq!(TestKey::for_algorithm(Algorithm::PS256), TestKey::Ps256);
/// assert_eq!(TestKey::Rs256.next_rsa(), TestKey::Rsa2);
/// assert_eq!(TestKey::Rs256.kid(), "rsa1-RS256");
/// assert_eq!(TestKey::Rs256.public_jwk()["kid"], "rsa1-RS256");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TestKey {
    /// RSA key 1 with RS256 (`kid` `rsa1-RS256`): the default signing key.
    Rs256,
    /// RSA key 1 with RS384 (`rsa1-RS384`).
    Rs384,
    /// RSA key 1 with RS512 (`rsa1-RS512`).
    Rs512,
    /// RSA key 1 with PS256 (`rsa1-PS256`).
    Ps256,
    /// RSA key 1 with PS384 (`rsa1-PS384`).
    Ps384,
    /// RSA key 1 with PS512 (`rsa1-PS512`).
    Ps512,
    /// The P-256 key with ES256 (`p256-ES256`).
    Es256,
    /// The P-384 key with ES384 (`p384-ES384`).
    Es384,
    /// The Ed25519 key with EdDSA (`ed25519-EdDSA`).
    EdDsa,
    /// RSA key 2 with RS256 (`rsa2-RS256`): the first rotation.
    Rsa2,
    /// RSA key 3 with RS256 (`rsa3-RS256`): the second rotation.
    Rsa3,
    /// RSA key 4 with RS256 (`rsa4-RS256`): the third rotation.
    Rsa4,
}

impl TestKey {
    /// Every key.
    pub const ALL: &'static [Self] = &[
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::EdDsa,
        Self::Rsa2,
        Self::Rsa3,
        Self::Rsa4,
    ];

    /// One key per supported algorithm, in the order of [`Algorithm::ALL`]: what a
    /// [`MockIdp`](super::MockIdp) publishes when it starts.
    pub const PER_ALGORITHM: &'static [Self] = &[
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::EdDsa,
    ];

    /// The key for `alg` among [`TestKey::PER_ALGORITHM`].
    pub fn for_algorithm(alg: Algorithm) -> Self {
        match alg {
            Algorithm::RS256 => Self::Rs256,
            Algorithm::RS384 => Self::Rs384,
            Algorithm::RS512 => Self::Rs512,
            Algorithm::PS256 => Self::Ps256,
            Algorithm::PS384 => Self::Ps384,
            Algorithm::PS512 => Self::Ps512,
            Algorithm::ES256 => Self::Es256,
            Algorithm::ES384 => Self::Es384,
            Algorithm::EdDSA => Self::EdDsa,
        }
    }

    /// The algorithm this key signs with, and the `alg` of its JWK.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::Rs256 | Self::Rsa2 | Self::Rsa3 | Self::Rsa4 => Algorithm::RS256,
            Self::Rs384 => Algorithm::RS384,
            Self::Rs512 => Algorithm::RS512,
            Self::Ps256 => Algorithm::PS256,
            Self::Ps384 => Algorithm::PS384,
            Self::Ps512 => Algorithm::PS512,
            Self::Es256 => Algorithm::ES256,
            Self::Es384 => Algorithm::ES384,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }

    /// The key id, stable across runs and releases: the key's name and its algorithm.
    pub fn kid(self) -> &'static str {
        match self {
            Self::Rs256 => "rsa1-RS256",
            Self::Rs384 => "rsa1-RS384",
            Self::Rs512 => "rsa1-RS512",
            Self::Ps256 => "rsa1-PS256",
            Self::Ps384 => "rsa1-PS384",
            Self::Ps512 => "rsa1-PS512",
            Self::Es256 => "p256-ES256",
            Self::Es384 => "p384-ES384",
            Self::EdDsa => "ed25519-EdDSA",
            Self::Rsa2 => "rsa2-RS256",
            Self::Rsa3 => "rsa3-RS256",
            Self::Rsa4 => "rsa4-RS256",
        }
    }

    pub(crate) fn material(self) -> Material {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                Material::Rsa(1)
            }
            Self::Rsa2 => Material::Rsa(2),
            Self::Rsa3 => Material::Rsa(3),
            Self::Rsa4 => Material::Rsa(4),
            Self::Es256 => Material::P256,
            Self::Es384 => Material::P384,
            Self::EdDsa => Material::Ed25519,
        }
    }

    /// A compact JWS over exactly `header` and `payload` (any bytes, base64url-encoded as they
    /// are), signed with this key's algorithm whatever the header says: for tests of what a
    /// validator does with a header or payload no [`TokenBuilder`](super::TokenBuilder) makes.
    pub fn sign_compact(self, header: &[u8], payload: &[u8]) -> String {
        self.material()
            .sign_compact(self.algorithm(), header, payload)
    }

    /// The public JWK (RFC 7517), with `kid`, `use: "sig"` and `alg`.
    pub fn public_jwk(self) -> Value {
        self.material().jwk(self.algorithm(), self.kid())
    }

    /// A JWK Set document (`{"keys": [...]}`) publishing `keys`, to serve from your own test
    /// server.
    pub fn jwks(keys: impl IntoIterator<Item = Self>) -> Value {
        let keys: Vec<Value> = keys.into_iter().map(Self::public_jwk).collect();
        json!({ "keys": keys })
    }

    /// The private key, DER-encoded: PKCS#1 `RSAPrivateKey` for RSA keys, PKCS#8 for EC and
    /// Ed25519 keys. For signing with your own JWT library.
    pub fn private_key_der(self) -> &'static [u8] {
        self.material().private_der()
    }

    /// The key [`MockIdp::rotate`](super::MockIdp::rotate) moves to from this one:
    /// `Rs256` → `Rsa2` → `Rsa3` → `Rsa4` → `Rs256`, and `Rs256` from any other key.
    pub fn next_rsa(self) -> Self {
        match self {
            Self::Rs256 => Self::Rsa2,
            Self::Rsa2 => Self::Rsa3,
            Self::Rsa3 => Self::Rsa4,
            _ => Self::Rs256,
        }
    }
}

impl fmt::Display for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kid())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{DecodingKey, crypto};

    const ALL_MATERIALS: [Material; 11] = [
        Material::Rsa(1),
        Material::Rsa(2),
        Material::Rsa(3),
        Material::Rsa(4),
        Material::P256,
        Material::P384,
        Material::Ed25519,
        Material::ForgerRsa,
        Material::ForgerP256,
        Material::ForgerP384,
        Material::ForgerEd25519,
    ];

    fn algorithm_of(material: Material) -> Algorithm {
        match material {
            Material::P256 | Material::ForgerP256 => Algorithm::ES256,
            Material::P384 | Material::ForgerP384 => Algorithm::ES384,
            Material::Ed25519 | Material::ForgerEd25519 => Algorithm::EdDSA,
            _ => Algorithm::RS256,
        }
    }

    #[test]
    fn embedded_public_components_match_the_private_keys() {
        for material in ALL_MATERIALS {
            let alg = algorithm_of(material);
            let derived = Jwk::from_encoding_key(&material.encoding_key(), alg.to_jsonwebtoken())
                .unwrap_or_else(|e| panic!("{material:?}: {e}"));
            let mut derived = serde_json::to_value(derived).unwrap();
            let embedded = material.jwk(alg, "k");
            for member in ["kty", "crv", "n", "e", "x", "y"] {
                assert_eq!(
                    derived.get_mut(member).map(Value::take),
                    embedded.get(member).cloned(),
                    "{material:?} {member}"
                );
            }
        }
    }

    #[test]
    fn every_key_signs_what_its_published_jwk_verifies() {
        for key in TestKey::ALL.iter().copied() {
            let jwk: Jwk = serde_json::from_value(key.public_jwk()).unwrap();
            let decoding = DecodingKey::from_jwk(&jwk).unwrap();
            let alg = key.algorithm().to_jsonwebtoken();
            let signature = crypto::sign(b"message", &key.material().encoding_key(), alg)
                .unwrap_or_else(|e| panic!("{key:?}: {e}"));
            assert!(crypto::verify(&signature, b"message", &decoding, alg).unwrap());
            assert!(!crypto::verify(&signature, b"other", &decoding, alg).unwrap());
            let forged =
                crypto::sign(b"message", &key.material().forger().encoding_key(), alg).unwrap();
            assert!(!crypto::verify(&forged, b"message", &decoding, alg).unwrap_or(false));
        }
    }

    #[test]
    fn rsa_keys_are_2048_bits_and_distinct() {
        let moduli: Vec<String> = [TestKey::Rs256, TestKey::Rsa2, TestKey::Rsa3, TestKey::Rsa4]
            .iter()
            .map(|key| {
                let n = key.public_jwk()["n"].as_str().unwrap().to_owned();
                assert_eq!(URL_SAFE_NO_PAD.decode(&n).unwrap().len(), 256);
                n
            })
            .collect();
        for (i, a) in moduli.iter().enumerate() {
            assert!(!moduli[i + 1..].contains(a));
        }
    }

    #[test]
    fn kids_are_unique_and_keys_are_addressable() {
        let mut kids: Vec<&str> = TestKey::ALL.iter().map(|k| k.kid()).collect();
        kids.sort_unstable();
        kids.dedup();
        assert_eq!(kids.len(), TestKey::ALL.len());
        for (key, alg) in TestKey::PER_ALGORITHM.iter().zip(Algorithm::ALL) {
            assert_eq!(key.algorithm(), *alg);
            assert_eq!(TestKey::for_algorithm(*alg), *key);
        }
        let mut key = TestKey::Rs256;
        for expected in [TestKey::Rsa2, TestKey::Rsa3, TestKey::Rsa4, TestKey::Rs256] {
            key = key.next_rsa();
            assert_eq!(key, expected);
        }
        assert_eq!(TestKey::Es256.next_rsa(), TestKey::Rs256);
        assert_eq!(TestKey::Rsa3.to_string(), "rsa3-RS256");
        assert_eq!(TestKey::jwks([TestKey::EdDsa])["keys"][0]["crv"], "Ed25519");
    }
}
