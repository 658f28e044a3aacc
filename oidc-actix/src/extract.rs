//! The extractors — `IdToken`, `Option<IdToken>`, [`Authenticated`], [`MaybeAuthenticated`],
//! the macros' hidden parameters and the auth routes' `OidcAuth` — and the one request pipeline
//! behind them all.
//!
//! A bearer token's whole trip is [`authenticate`], calling down one service after another:
//!
//! ```text
//! header → provider (keys, refresh if stale) → clock → cache (get) → verify (pure)
//!        → token (build) → cache (insert) → policy (scopes, claims) → handler argument
//! ```
//!
//! Authentication (401/503) happens while extracting; authorization (scopes and claims, 403) is
//! a separate step, [`Authenticated::authorize`], because only the route knows its policy.
//! With keys cached, extraction completes synchronously (a ready future), so it never waits
//! behind a body extractor of the same handler.

use std::sync::Arc;

use futures::future::{Either, LocalBoxFuture, Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest};

use crate::cache;
use crate::clock;
use crate::config::OidcAuth;
use crate::error::{AuthError, InvalidToken};
use crate::jwks::KeySet;
use crate::policy::{Policy, PolicyDefaults};
use crate::provider::{PendingFetch, Reason};
use crate::token::{Claims, ClaimsType, IdToken};
use crate::verify::{Failure, Verified, parse, verify};

/// A request whose bearer token is valid, before any route policy is applied.
///
/// Use it without the macros when a handler decides its own policy:
///
/// ```
/// use actix_web::{HttpResponse, get};
/// use oidc_actix::{AuthError, Authenticated, Policy};
///
/// #[get("/reports")]
/// async fn reports(auth: Authenticated) -> Result<HttpResponse, AuthError> {
///     let token = auth.authorize(&Policy::authenticated().with_scopes("reports").unwrap())?;
///     Ok(HttpResponse::Ok().body(format!("reports for {:?}", token.sub)))
/// }
/// ```
pub struct Authenticated<C = Claims> {
    token: IdToken<C>,
    /// The configured policy defaults, only when there are any (see
    /// `OidcAuth::policy_defaults`).
    defaults: Option<Arc<PolicyDefaults>>,
}

impl<C> Authenticated<C> {
    /// Applies a route policy: scopes first (403 `insufficient_scope`), then claims (403).
    /// The policy's claims replace the configured defaults; without any, the defaults apply.
    pub fn authorize(self, policy: &Policy) -> Result<IdToken<C>, AuthError> {
        static NONE: PolicyDefaults = PolicyDefaults::NONE;
        let defaults = self.defaults.as_deref().unwrap_or(&NONE);
        policy.check(|| self.token.payload(), defaults)?;
        Ok(self.token)
    }

    /// The authenticated token, before any policy: it may fail the configured default claims.
    pub fn token(&self) -> &IdToken<C> {
        &self.token
    }
}

/// An extraction that is ready at once when keys are cached, and a boxed future otherwise.
pub(crate) type Extraction<T> =
    Either<Ready<Result<T, AuthError>>, LocalBoxFuture<'static, Result<T, AuthError>>>;

/// Maps the outcome of an extraction, keeping a ready extraction ready (no allocation).
pub(crate) fn map_extraction<T: 'static, U>(
    extraction: Extraction<T>,
    map: impl FnOnce(Result<T, AuthError>) -> Result<U, AuthError> + 'static,
) -> Extraction<U> {
    match extraction {
        Either::Left(done) => Either::Left(ready(map(done.into_inner()))),
        Either::Right(pending) => Either::Right(Box::pin(async move { map(pending.await) })),
    }
}

impl<C: ClaimsType> FromRequest for Authenticated<C> {
    type Error = AuthError;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(auth) = registered(req) else {
            return Either::Left(ready(Err(AuthError::NotConfigured)));
        };
        let raw = match bearer_token(req) {
            Ok(raw) => raw,
            Err(e) => return Either::Left(ready(Err(e))),
        };
        match authenticate::<C>(auth, raw, KeyFetch::Allowed) {
            Attempt::Done(result) => Either::Left(ready(result.map(|token| Self::of(auth, token)))),
            Attempt::Wait(pending) => {
                let (auth, raw) = (auth.clone(), raw.to_vec());
                Either::Right(Box::pin(async move {
                    let token = authenticate_after::<C>(&auth, pending, &raw).await?;
                    Ok(Self::of(&auth, token))
                }))
            }
        }
    }
}

impl<C> Authenticated<C> {
    fn of(auth: &OidcAuth, token: IdToken<C>) -> Self {
        Self {
            token,
            defaults: auth.policy_defaults(),
        }
    }
}

/// Whether validation may start (or join) a fetch of the provider's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFetch {
    Allowed,
    Forbidden,
}

/// What a synchronous validation attempt ended with.
enum Attempt<C> {
    Done(Result<IdToken<C>, AuthError>),
    /// Keys must be fetched first; await this, then try again.
    Wait(PendingFetch),
}

/// A bearer token's whole trip, with the keys at hand. `raw` is the header's token, checked
/// for ASCII only when it is not a cached one (see [`bearer_token`]).
fn authenticate<C: ClaimsType>(auth: &OidcAuth, raw: &[u8], fetch: KeyFetch) -> Attempt<C> {
    let config = auth.config();
    // Before the cache, so an absurd header costs not even a hash (`parse` checks it too, for
    // the callers that start there).
    if raw.len() > config.max_token_bytes {
        return Attempt::Done(Err(InvalidToken::TooLarge.into()));
    }
    let provider = auth.provider();
    let guard = provider.keys();
    let Some(keys) = guard.as_deref() else {
        return before_first_keys(auth, raw, fetch);
    };
    let now = clock::now();
    provider.refresh_if_stale(keys, now);
    if let Some(token) = cache::get::<C>(auth.id(), raw, keys, now) {
        return Attempt::Done(Ok(token));
    }
    let raw = match ascii_token(raw) {
        Ok(raw) => raw,
        Err(why) => return Attempt::Done(Err(why)),
    };
    match verify(raw, keys, &config.token_rules(), now) {
        Err(Failure::UnknownKid) => unknown_kid(auth, raw, keys, fetch, now),
        outcome => Attempt::Done(admit(auth, raw, outcome, keys, now)),
    }
}

/// No key set yet: what no key could save is rejected before the provider is asked for keys.
fn before_first_keys<C>(auth: &OidcAuth, raw: &[u8], fetch: KeyFetch) -> Attempt<C> {
    let checked = ascii_token(raw)
        .and_then(|raw| parse(raw, &auth.config().token_rules()).map_err(AuthError::from));
    if let Err(why) = checked {
        return Attempt::Done(Err(why));
    }
    match begin_fetch(auth, Reason::Initial, fetch) {
        Some(pending) => Attempt::Wait(pending),
        None => Attempt::Done(Err(AuthError::ProviderUnavailable)),
    }
}

/// The token names a `kid` that `keys` lacks: fetch the set again if its cooldown allows.
fn unknown_kid<C: ClaimsType>(
    auth: &OidcAuth,
    raw: &str,
    keys: &KeySet,
    fetch: KeyFetch,
    now: f64,
) -> Attempt<C> {
    if let Some(pending) = begin_fetch(auth, Reason::UnknownKid, fetch) {
        return Attempt::Wait(pending);
    }
    // The set read before may have been replaced since: the fetch that brings this `kid` can
    // finish between that read and `begin`, whose cooldown it has just started. Look at the
    // current set once before refusing.
    let current = auth.provider().keys();
    match current.as_deref() {
        Some(current) if current.generation != keys.generation => {
            let outcome = verify(raw, current, &auth.config().token_rules(), now);
            Attempt::Done(admit(auth, raw, outcome, current, now))
        }
        _ => Attempt::Done(Err(InvalidToken::UnknownKey.into())),
    }
}

fn begin_fetch(auth: &OidcAuth, reason: Reason, fetch: KeyFetch) -> Option<PendingFetch> {
    match fetch {
        KeyFetch::Allowed => auth.provider().begin(reason),
        KeyFetch::Forbidden => None,
    }
}

/// The handler's token for a verification outcome; a valid one is offered to the cache.
fn admit<C: ClaimsType>(
    auth: &OidcAuth,
    raw: &str,
    outcome: Result<Verified, Failure>,
    keys: &KeySet,
    now: f64,
) -> Result<IdToken<C>, AuthError> {
    let Verified {
        payload_json,
        payload,
        kid,
        key,
        exp,
    } = outcome.map_err(Failure::reason)?;
    let token = IdToken::<C>::from_verified(raw, &payload_json, payload, exp)
        .map_err(|e| InvalidToken::ClaimsType(claims_type_mismatch(&e)))?;
    cache::insert(
        auth.id(),
        auth.config().token_cache_capacity,
        raw,
        || cache::Entry::new(token.clone(), kid, key, exp),
        keys,
        now,
    );
    Ok(token)
}

/// Why a payload does not fit the application's claims type, without a claim's value: the
/// reason goes into the 401's `detail` and `WWW-Authenticate`, and serde's messages quote the
/// values they refuse (`invalid type: string "…"`). Field names (missing, unknown, duplicate)
/// are the application's own and kept.
fn claims_type_mismatch(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let message = message
        .split_once(" at line ")
        .map_or(message.as_str(), |(message, _)| message);
    if ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|names_a_field| message.starts_with(names_a_field))
    {
        message.to_owned()
    } else {
        "a claim has the wrong type or value".to_owned()
    }
}

/// Finishes a validation that had to wait for a key fetch.
async fn authenticate_after<C: ClaimsType>(
    auth: &OidcAuth,
    pending: PendingFetch,
    raw: &[u8],
) -> Result<IdToken<C>, AuthError> {
    // The outcome is in the provider's state: a failed fetch shows as missing keys.
    let _ = pending.await;
    // The fetch joined may have had another reason (a stale-set refresh that began before the
    // token's key was published), so one unknown-`kid` fetch more is allowed, within its
    // cooldown as always; after that, what the keys say is final.
    match authenticate(auth, raw, KeyFetch::Allowed) {
        Attempt::Done(result) => result,
        Attempt::Wait(pending) => {
            let _ = pending.await;
            match authenticate(auth, raw, KeyFetch::Forbidden) {
                Attempt::Done(result) => result,
                Attempt::Wait(_) => Err(AuthError::ProviderUnavailable),
            }
        }
    }
}

/// Like [`Authenticated`], but a request without a valid token is let through as anonymous.
///
/// Everything a client sends and an unreachable provider yield `None`, and so does a server
/// without a registered [`OidcAuth`] (logged as an error with the fix), exactly as
/// `Option<IdToken>` does (actix-web's `Option` extractor turns every error into `None`). The
/// `#[auth::optional]` macro answers that misconfiguration with a 500 instead, so a forgotten
/// registration cannot pass unnoticed behind the macros.
pub struct MaybeAuthenticated<C = Claims> {
    inner: Option<Authenticated<C>>,
}

impl<C> MaybeAuthenticated<C> {
    /// The token if there is one and it satisfies `policy`; `None` otherwise.
    pub fn authorize(self, policy: &Policy) -> Option<IdToken<C>> {
        self.inner.and_then(|auth| auth.authorize(policy).ok())
    }
}

impl<C: ClaimsType> FromRequest for MaybeAuthenticated<C> {
    type Error = AuthError;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        map_extraction(Authenticated::<C>::from_request(req, payload), |result| {
            Ok(Self { inner: result.ok() })
        })
    }
}

/// `IdToken` as an extractor: a valid token meeting the configured default claims, else the
/// error response (401, 403 or 503). `Option<IdToken>` is the optional form.
impl<C: ClaimsType> FromRequest for IdToken<C> {
    type Error = AuthError;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        map_extraction(Authenticated::<C>::from_request(req, payload), |result| {
            result?.authorize(&Policy::DEFAULT)
        })
    }
}

/// The registered `OidcAuth`, for the auth routes' handlers.
impl FromRequest for OidcAuth {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(registered(req).cloned().ok_or(AuthError::NotConfigured))
    }
}

/// The instance registered with the application, or `None` (logged with the fix).
pub(crate) fn registered(req: &HttpRequest) -> Option<&OidcAuth> {
    let found = req.app_data::<OidcAuth>();
    if found.is_none() {
        log::error!(
            "oidc-actix: a protected route was called but no OidcAuth is registered; add \
             `.configure(auth.routes(\"/api\"))` or `.app_data(auth.clone())` to the App"
        );
    }
    found
}

/// The token of the request's `Authorization: Bearer` header, as the header's bytes.
///
/// The scheme is case-insensitive (RFC 7235 §2.1). A missing header, another scheme or an empty
/// credential is "no token" (401 `Not authenticated`); several `Authorization` headers or a
/// header that is not visible ASCII make the request invalid rather than guessing which one counts.
///
/// The token itself is checked for ASCII by [`ascii_token`] only when it is not in the
/// verified-token cache: a cached token is ASCII (it verified), and reading ~1 KiB twice more
/// (UTF-8, then ASCII) was a third of what a cache hit cost (BENCHMARKS.md). Every header is
/// judged as if it were checked whole first: the scheme and separators are ASCII when this
/// returns a token, and a header this refuses as "no token" is refused as not ASCII instead
/// when it has a byte outside ASCII.
fn bearer_token(req: &HttpRequest) -> Result<&[u8], AuthError> {
    let mut headers = req.headers().get_all(AUTHORIZATION);
    let Some(value) = headers.next() else {
        return Err(AuthError::MissingToken);
    };
    if headers.next().is_some() {
        return Err(InvalidToken::Malformed("several Authorization headers").into());
    }
    let value = value.as_bytes();
    let no_token = || {
        if value.is_ascii() {
            AuthError::MissingToken
        } else {
            NOT_ASCII.into()
        }
    };
    let is_blank = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let leading = value.iter().take_while(|b| is_blank(b)).count();
    let Some(split) = value[leading..].iter().position(is_blank) else {
        return Err(no_token());
    };
    let (scheme, credentials) = value[leading..].split_at(split);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(no_token());
    }
    let start = credentials.iter().position(|b| !is_blank(b));
    let end = credentials.iter().rposition(|b| !is_blank(b));
    match (start, end) {
        (Some(start), Some(end)) => Ok(&credentials[start..=end]),
        _ => Err(AuthError::MissingToken),
    }
}

const NOT_ASCII: InvalidToken = InvalidToken::Malformed("Authorization header is not ASCII");

/// The token of [`bearer_token`] as text, if it is ASCII (as every token that can verify is).
fn ascii_token(raw: &[u8]) -> Result<&str, AuthError> {
    if !raw.is_ascii() {
        return Err(NOT_ASCII.into());
    }
    std::str::from_utf8(raw).map_err(|_| NOT_ASCII.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn bearer(headers: &[&str]) -> Result<String, AuthError> {
        let mut req = TestRequest::default();
        for value in headers {
            req = req.append_header((AUTHORIZATION, *value));
        }
        let req = req.to_http_request();
        bearer_token(&req).and_then(ascii_token).map(str::to_owned)
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_whitespace_tolerated() {
        assert_eq!(bearer(&["Bearer abc"]).unwrap(), "abc");
        assert_eq!(bearer(&["bearer abc"]).unwrap(), "abc");
        assert_eq!(bearer(&["BEARER   abc  "]).unwrap(), "abc");
        assert_eq!(bearer(&[" \tBearer\tabc\t"]).unwrap(), "abc");
    }

    #[test]
    fn absent_or_foreign_credentials_are_no_token() {
        assert_eq!(bearer(&[]), Err(AuthError::MissingToken));
        assert_eq!(
            bearer(&["Basic dXNlcjpwdw=="]),
            Err(AuthError::MissingToken)
        );
        assert_eq!(bearer(&["Bearer"]), Err(AuthError::MissingToken));
        assert_eq!(bearer(&["Bearer    "]), Err(AuthError::MissingToken));
        assert_eq!(bearer(&["Bearerabc"]), Err(AuthError::MissingToken));
        assert_eq!(bearer(&["  "]), Err(AuthError::MissingToken));
    }

    #[test]
    fn a_non_ascii_header_is_invalid() {
        // In the token, as the separator, in another scheme, alone: never "no token".
        let values: [&[u8]; 5] = [
            b"Bearer caf\xc3\xa9",
            b"Bearer\xc2\xa0abc",
            b"Basic caf\xc3\xa9",
            b"\xff",
            b"Bearer \x80",
        ];
        for value in values {
            let value = actix_web::http::header::HeaderValue::from_bytes(value).unwrap();
            let req = TestRequest::default()
                .insert_header((AUTHORIZATION, value.clone()))
                .to_http_request();
            assert!(
                matches!(
                    bearer_token(&req).and_then(ascii_token),
                    Err(AuthError::InvalidToken(_))
                ),
                "{value:?}"
            );
        }
    }

    /// Without a registered `OidcAuth` the optional extractors agree: anonymous (the error is
    /// logged with the fix), while the required one is the 500 of a misconfigured server.
    #[actix_web::test]
    async fn without_a_registered_oidc_auth_the_optional_forms_are_anonymous() {
        use actix_web::{App, HttpResponse, test, web};

        async fn option(token: Option<IdToken>) -> HttpResponse {
            HttpResponse::Ok().body(format!("option {}", token.is_some()))
        }
        async fn maybe(auth: MaybeAuthenticated) -> HttpResponse {
            let token = auth.authorize(&Policy::DEFAULT);
            HttpResponse::Ok().body(format!("maybe {}", token.is_some()))
        }
        async fn required(_: IdToken) -> HttpResponse {
            HttpResponse::Ok().finish()
        }
        let app = test::init_service(
            App::new()
                .route("/option", web::get().to(option))
                .route("/maybe", web::get().to(maybe))
                .route("/required", web::get().to(required)),
        )
        .await;
        for (path, expected) in [("/option", "option false"), ("/maybe", "maybe false")] {
            for authorization in [None, Some("Bearer a.b.c")] {
                let mut req = TestRequest::get().uri(path);
                if let Some(value) = authorization {
                    req = req.insert_header((AUTHORIZATION, value));
                }
                let response = test::call_service(&app, req.to_request()).await;
                assert_eq!(response.status(), 200, "{path} {authorization:?}");
                assert_eq!(test::read_body(response).await, expected);
            }
        }
        let req = TestRequest::get()
            .uri("/required")
            .insert_header((AUTHORIZATION, "Bearer a.b.c"));
        let response = test::call_service(&app, req.to_request()).await;
        assert_eq!(response.status(), 500);
    }

    #[test]
    fn two_authorization_headers_are_invalid() {
        assert!(matches!(
            bearer(&["Bearer a", "Bearer b"]),
            Err(AuthError::InvalidToken(_))
        ));
    }
}
