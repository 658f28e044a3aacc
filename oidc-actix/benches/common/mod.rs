//! Set-up shared by the bench targets: one mock provider, one warmed `OidcAuth`, one token shape.

use std::time::Duration;

use actix_web::rt::{System, SystemRunner};
use criterion::Criterion;
use oidc_actix::OidcAuth;
use oidc_actix::testing::{MockIdp, TEST_AUDIENCE, TokenBuilder};
use serde_json::json;

/// The provider, an `OidcAuth` with its keys loaded, and the actix runtime that loaded them.
pub struct Fixture {
    /// Kept for the unknown-kid refetch and for `init_service`, which need an actix runtime.
    pub rt: SystemRunner,
    pub idp: MockIdp,
    pub auth: OidcAuth,
}

impl Fixture {
    pub fn start() -> Self {
        let rt = System::new();
        let idp = MockIdp::start();
        // The measurement loops run outside any actix runtime, where a key fetch cannot be
        // spawned; a day of TTL and cooldown keeps a long `--measurement-time` run from
        // starting one. Neither is on the path being measured while the keys are fresh.
        let day = Duration::from_secs(24 * 3600);
        let auth = idp
            .auth_builder()
            .jwks_ttl(day)
            .jwks_refetch_cooldown(day)
            .build()
            .expect("the mock provider's configuration is valid");
        rt.block_on(auth.warm_up())
            .expect("the mock provider serves its keys");
        Self { rt, idp, auth }
    }
}

/// A Keycloak-shaped access token (560 bytes of claims, 0.9-1.2 KB encoded): the mock
/// provider's default claims plus roles, groups and profile claims, so that hashing, parsing
/// and the role checks see realistic sizes rather than a minimal token.
pub fn typical_token(idp: &MockIdp) -> TokenBuilder {
    idp.token()
        .claim("azp", json!(TEST_AUDIENCE))
        .claim("email", json!("alice@example.org"))
        .claim("email_verified", json!(true))
        .claim("name", json!("Alice Example"))
        .claim("given_name", json!("Alice"))
        .claim("family_name", json!("Example"))
        .claim("groups", json!(["/staff", "admins"]))
        .claim(
            "realm_access",
            json!({"roles": ["offline_access", "uma_authorization", "default-roles-demo"]}),
        )
        .claim(
            "resource_access",
            json!({"account": {"roles": ["manage-account", "view-profile"]}}),
        )
        .claim("sid", json!("6c2f1e0a-8d3b-4f7e-9a51-2b7c4d9e0f13"))
}

/// Short enough that both targets together run in a few minutes on two cores; still 50 samples,
/// enough for a stable median of operations that take between 100 ns and 100 µs.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}
