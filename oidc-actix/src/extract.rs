//! The extractors: the one implementation behind `IdToken`, `Option<IdToken>` and the macros.
//!
//! Authentication (401/503) happens while extracting; authorization (scopes and claims, 403) is
//! a separate step, [`Authenticated::authorize`], because only the route knows its policy.
//! With keys cached, extraction completes synchronously (a ready future), so it never waits
//! behind a body extractor of the same handler.

use futures::future::{Either, LocalBoxFuture, Ready, ready};
use serde::de::DeserializeOwned;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest};

use crate::OidcAuth;
use crate::error::{AuthError, InvalidToken};
use crate::policy::Policy;
use crate::token::{Claims, IdToken};
use crate::verify::Attempt;

/// The bounds on a claims type: deserializable, and shareable by the verified-token cache.
pub trait ClaimsType: DeserializeOwned + Send + Sync + 'static {}

impl<C: DeserializeOwned + Send + Sync + 'static> ClaimsType for C {}

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
    auth: OidcAuth,
}

impl<C> Authenticated<C> {
    /// Applies a route policy: scopes first (403 `insufficient_scope`), then claims (403).
    /// The policy's claims replace the configured defaults; without any, the defaults apply.
    pub fn authorize(self, policy: &Policy) -> Result<IdToken<C>, AuthError> {
        policy.check(|| self.token.payload(), self.auth.default_claims())?;
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
        let Some(auth) = OidcAuth::from_app_data(req) else {
            return Either::Left(ready(Err(AuthError::NotConfigured)));
        };
        let raw = match bearer_token(req) {
            Ok(raw) => raw,
            Err(e) => return Either::Left(ready(Err(e))),
        };
        match auth.attempt::<C>(raw, true) {
            Attempt::Done(result) => Either::Left(ready(result.map(|token| Self {
                token,
                auth: auth.clone(),
            }))),
            Attempt::Wait(pending) => {
                let (auth, raw) = (auth.clone(), raw.to_owned());
                Either::Right(Box::pin(async move {
                    let token = auth.validate_after::<C>(pending, &raw).await?;
                    Ok(Self { token, auth })
                }))
            }
        }
    }
}

/// Like [`Authenticated`], but a request without a valid token is let through as anonymous.
///
/// Only a server misconfiguration (no [`OidcAuth`] registered) is an error; everything a client
/// sends, and an unreachable provider, yields `None`.
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
        map_extraction(
            Authenticated::<C>::from_request(req, payload),
            |result| match result {
                Ok(auth) => Ok(Self { inner: Some(auth) }),
                Err(AuthError::NotConfigured) => Err(AuthError::NotConfigured),
                Err(_) => Ok(Self { inner: None }),
            },
        )
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

/// The token of the request's `Authorization: Bearer` header.
///
/// The scheme is case-insensitive (RFC 7235 §2.1). A missing header, another scheme or an empty
/// credential is "no token" (401 `Not authenticated`); several `Authorization` headers or a
/// header that is not visible ASCII make the request invalid rather than guessing which one counts.
pub(crate) fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let mut headers = req.headers().get_all(AUTHORIZATION);
    let Some(value) = headers.next() else {
        return Err(AuthError::MissingToken);
    };
    if headers.next().is_some() {
        return Err(InvalidToken::Malformed("several Authorization headers").into());
    }
    // `HeaderValue::to_str` checks byte by byte; on a ~1 KiB token header that was most of what
    // a cache hit cost (BENCHMARKS.md). `is_ascii` checks a word at a time; `HeaderValue`
    // already excludes control characters.
    let value = std::str::from_utf8(value.as_bytes())
        .ok()
        .filter(|value| value.is_ascii())
        .ok_or(InvalidToken::Malformed("Authorization header is not ASCII"))?;
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let Some((scheme, credentials)) = value.split_once([' ', '\t']) else {
        return Err(AuthError::MissingToken);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = credentials.trim_start_matches([' ', '\t']);
    if token.is_empty() {
        Err(AuthError::MissingToken)
    } else {
        Ok(token)
    }
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
        bearer_token(&req.to_http_request()).map(str::to_owned)
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_whitespace_tolerated() {
        assert_eq!(bearer(&["Bearer abc"]).unwrap(), "abc");
        assert_eq!(bearer(&["bearer abc"]).unwrap(), "abc");
        assert_eq!(bearer(&["BEARER   abc  "]).unwrap(), "abc");
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
    }

    #[test]
    fn a_non_ascii_header_is_invalid() {
        let value =
            actix_web::http::header::HeaderValue::from_bytes(b"Bearer caf\xc3\xa9").unwrap();
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, value))
            .to_http_request();
        assert!(matches!(
            bearer_token(&req),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn two_authorization_headers_are_invalid() {
        assert!(matches!(
            bearer(&["Bearer a", "Bearer b"]),
            Err(AuthError::InvalidToken(_))
        ));
    }
}
