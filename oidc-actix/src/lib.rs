#![doc = include_str!("../../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The library itself never unwraps; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

// The floors, top to bottom: every `use crate::…` points to a lower floor, so no two modules
// depend on each other. `routes`, `testing` · `private` · `extract` · `config` ·
// `verify`, `cache`, `provider` · `jwks`, `token`, `policy`, `discovery`, `login_state` ·
// `algorithm`, `clock`, `claims`, `error`, `fetch`, `redirect`, `strict_json`.
mod algorithm;
mod cache;
mod claims;
mod clock;
mod config;
mod discovery;
mod error;
mod extract;
mod fetch;
mod jwks;
mod login_state;
mod policy;
mod provider;
mod redirect;
mod routes;
mod strict_json;
mod token;
mod verify;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz_bridge.rs"]
pub mod __fuzz;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use algorithm::Algorithm;
pub use claims::{ClaimConstraints, ClaimRule, ClaimValue, ClaimsFormatError};
pub use config::{ConfigError, OidcAuth, OidcAuthBuilder};
pub use error::{AuthError, InvalidToken};
pub use extract::{Authenticated, MaybeAuthenticated};
pub use fetch::FetchError;
pub use policy::{InvalidScopes, Policy};
pub use provider::ProviderError;
pub use redirect::RedirectAllowList;
pub use routes::{AuthRoute, AuthRoutes};
pub use token::{Access, Audience, Claims, ClaimsType, IdToken};

/// The attribute macros, used as `#[auth::required]` and `#[auth::optional]`.
///
/// A module rather than top-level macros so the attributes read like py-oidc-auth's
/// `@auth.required()`, and so `use oidc_actix::auth;` can sit next to a variable named `auth`
/// (modules and values live in different namespaces).
pub mod auth {
    pub use oidc_actix_macros::{optional, required};
}
