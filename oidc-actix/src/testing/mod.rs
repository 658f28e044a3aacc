//! A test kit: an in-process identity provider and a token builder, to test your own handlers
//! against real token validation. Enabled by the `testing` feature; add it to your
//! dev-dependencies only:
//!
//! ```toml
//! [dev-dependencies]
//! oidc-actix = { version = "0.1", features = ["testing"] }
//! ```
//!
//! * [`MockIdp`] serves a discovery document and a key set on `127.0.0.1`, signs tokens, rotates
//!   keys, misbehaves on demand ([`Fault`]), holds its key-set answers back
//!   ([`MockIdp::hold_key_set`]), goes down and comes back, and counts the requests it receives.
//! * [`TokenBuilder`] makes tokens: valid by default, with one claim or header changed to test
//!   a rejection, or shaped as a known attack (`alg: none`, HMAC, forged signature).
//! * [`TestKey`] is one of the fixed keys the kit signs with, for every supported algorithm.
//!
//! # Example
//!
//! ```
//! use actix_web::{App, test, web};
//! use oidc_actix::IdToken;
//! use oidc_actix::testing::MockIdp;
//!
//! async fn whoami(token: IdToken) -> String {
//!     token.sub.clone().unwrap_or_default()
//! }
//!
//! actix_web::rt::System::new().block_on(async {
//!     let idp = MockIdp::start();
//!     let auth = idp.auth_builder().build().expect("valid configuration");
//!     let app = test::init_service(
//!         App::new()
//!             .app_data(auth.clone())
//!             .route("/whoami", web::get().to(whoami)),
//!     )
//!     .await;
//!
//!     let token = idp.token().sub("alice").sign();
//!     let req = test::TestRequest::get()
//!         .uri("/whoami")
//!         .insert_header(("authorization", format!("Bearer {token}")))
//!         .to_request();
//!     assert_eq!(test::call_and_read_body(&app, req).await, "alice");
//!
//!     let expired = idp.token().expires_in(-60);
//!     let req = test::TestRequest::get()
//!         .uri("/whoami")
//!         .insert_header(expired.authorization_header())
//!         .to_request();
//!     assert_eq!(test::call_service(&app, req).await.status(), 401);
//! });
//! ```
//!
//! # Security
//!
//! The private keys of [`TestKey`] are compiled into the crate and therefore public. Never
//! enable this feature in a production build, and never configure an application to trust a
//! [`MockIdp`] outside tests.

mod keys;
mod mock_idp;
mod token;

#[cfg(test)]
mod tests;

pub use keys::TestKey;
pub use mock_idp::{Fault, GrantEndpoint, KeySetHold, MockIdp, RecordedRequest, RequestCounts};
pub use token::TokenBuilder;

/// How long the library waits before fetching the provider's keys again after the
/// `failures`-th failed fetch in a row (1 s doubling to 15 s): for tests that bound how often a
/// provider that is down is called.
pub fn fetch_backoff(failures: u32) -> std::time::Duration {
    crate::provider::backoff_after(failures)
}

/// The audience (`aud`) of [`TokenBuilder`] tokens, and the audience and client id of
/// [`MockIdp::auth_builder`].
pub const TEST_AUDIENCE: &str = "oidc-actix-test";

/// The subject (`sub`) and `preferred_username` of [`TokenBuilder`] tokens.
pub const TEST_SUBJECT: &str = "test-user";
