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
use crate::claims::ClaimConstraints;
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
    /// The instance, only when it has default claims to apply: cloning an `OidcAuth` touches a
    /// reference count that every worker shares, a cache line bouncing between cores on every
    /// request (measurable on a cache hit, BENCHMARKS.md).
    defaults: Option<OidcAuth>,
}

impl<C> Authenticated<C> {
    /// Applies a route policy: scopes first (403 `insufficient_scope`), then claims (403).
    /// The policy's claims replace the configured defaults; without any, the defaults apply.
    pub fn authorize(self, policy: &Policy) -> Result<IdToken<C>, AuthError> {
        const NONE: &ClaimConstraints = &ClaimConstraints::new();
        let defaults = self
            .defaults
            .as_ref()
            .map_or(NONE, OidcAuth::default_claims);
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
                defaults: auth.defaults(),
            }))),
            Attempt::Wait(pending) => {
                let (auth, raw) = (auth.clone(), raw.to_vec());
                Either::Right(Box::pin(async move {
                    let token = auth.validate_after::<C>(pending, &raw).await?;
                    Ok(Self {
                        token,
                        defaults: auth.defaults(),
                    })
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
pub(crate) fn bearer_token(req: &HttpRequest) -> Result<&[u8], AuthError> {
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
pub(crate) fn ascii_token(raw: &[u8]) -> Result<&str, AuthError> {
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

    #[test]
    fn two_authorization_headers_are_invalid() {
        assert!(matches!(
            bearer(&["Bearer a", "Bearer b"]),
            Err(AuthError::InvalidToken(_))
        ));
    }
}
