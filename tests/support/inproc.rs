//! Helpers of the tests that drive the library in process: the service type `init_service`
//! makes, query strings, the auth routes' token answer as py-oidc-auth-client reads it, and the
//! library's key-fetch schedule that every recovery bound is derived from.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::read_body_json;
use oidc_actix::testing::fetch_backoff;
use serde_json::{Value, json};

/// What `actix_web::test::init_service` returns, whose type cannot be named: for helpers that
/// take the application under test.
pub trait TestService:
    Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
{
}

impl<S> TestService for S where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
{
}

/// `value` encoded for a query string or a form (`application/x-www-form-urlencoded`).
pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The first value of the query parameter `name` in `url`, decoded.
pub fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The `Location` of an answer, empty without one.
pub fn location(response: &ServiceResponse) -> String {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The status and JSON body of an answer; panics if the body is not JSON.
pub async fn json_of(response: ServiceResponse) -> (StatusCode, Value) {
    let status = response.status();
    (status, read_body_json(response).await)
}

/// The wall clock in whole seconds since 1970, as the token answers' expiries count.
pub fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds since 1970 fit an i64")
}

// ------------------------------------------------------------------------------------------------
// The token answer of the token and callback routes.

/// The members of a token answer, sorted: py-oidc-auth's wire format, read by
/// py-oidc-auth-client under exactly these names.
pub const TOKEN_ANSWER_FIELDS: [&str; 6] = [
    "access_token",
    "expires",
    "refresh_expires",
    "refresh_token",
    "scope",
    "token_type",
];

/// A token answer that passed [`assert_token_answer`], for the checks of one test on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAnswer {
    /// `access_token`, never empty.
    pub access_token: String,
    /// `refresh_token`, empty when the provider issued none.
    pub refresh_token: String,
    /// `scope`, space-separated, empty when the provider named none.
    pub scope: String,
    /// `expires`: when the access token expires, in seconds since 1970.
    pub expires: i64,
    /// `refresh_expires`: when the refresh token expires, in seconds since 1970.
    pub refresh_expires: i64,
}

/// Asserts that `body` is a token answer as py-oidc-auth-client reads it: exactly the six
/// [`TOKEN_ANSWER_FIELDS`], `token_type` `Bearer`, a non-empty access token, the refresh token
/// and scope as strings, and both expiries integers in the future. `what` names the answer in
/// failure messages.
pub fn assert_token_answer(body: &Value, what: &str) -> TokenAnswer {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not a JSON object: {body}"));
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, TOKEN_ANSWER_FIELDS, "{what}: {body}");
    assert_eq!(body["token_type"], "Bearer", "{what}: {body}");
    let text = |name: &str| {
        body[name]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: `{name}` is not a string: {body}"))
            .to_owned()
    };
    let now = unix_now();
    let expiry = |name: &str| {
        let at = body[name]
            .as_i64()
            .unwrap_or_else(|| panic!("{what}: `{name}` is not an integer: {body}"));
        assert!(
            at > now,
            "{what}: `{name}` ({at}) is not in the future: {body}"
        );
        at
    };
    let answer = TokenAnswer {
        access_token: text("access_token"),
        refresh_token: text("refresh_token"),
        scope: text("scope"),
        expires: expiry("expires"),
        refresh_expires: expiry("refresh_expires"),
    };
    assert!(
        !answer.access_token.is_empty(),
        "{what}: an empty access token: {body}"
    );
    answer
}

impl TokenAnswer {
    /// Asserts that both tokens live at least `lifetime` from now.
    pub fn assert_lives(&self, lifetime: Duration, what: &str) {
        let until = unix_now() + i64::try_from(lifetime.as_secs()).expect("a lifetime in i64");
        for (name, at) in [
            ("expires", self.expires),
            ("refresh_expires", self.refresh_expires),
        ] {
            assert!(
                at >= until,
                "{what}: `{name}` lives less than {lifetime:?}: {self:?}"
            );
        }
    }

    /// Whether `scope` lists `name`.
    pub fn has_scope(&self, name: &str) -> bool {
        self.scope.split(' ').any(|scope| scope == name)
    }
}

/// Asserts an answer that passes on an error of the provider's grant endpoints: `status`, the
/// provider's OAuth `error` on top (`None`: the provider sent none, and none is made up), and a
/// `detail` that says where the error came from (py-oidc-auth's words). `answer` is the status
/// and body as received; `what` names the case in failure messages.
pub fn assert_upstream_error(answer: (u16, &Value), status: u16, error: Option<&str>, what: &str) {
    let (got, body) = answer;
    assert_eq!(
        (got, body.get("error")),
        (status, error.map(Value::from).as_ref()),
        "{what}: {body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("Upstream OIDC error: ")),
        "{what}: {body}"
    );
}

/// A provider's token endpoint answer with every member, to script the mock provider's token
/// endpoint with (`access_token` `at`, `refresh_token` `rt`).
pub fn provider_token_answer() -> Value {
    json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300,
           "refresh_token": "rt", "refresh_expires_in": 1800, "scope": "openid profile"})
}

// ------------------------------------------------------------------------------------------------
// The library's key-fetch schedule: a failed fetch is retried after the backoff of
// `oidc_actix::testing::fetch_backoff` (1 s doubling to 15 s); a stale key set is refreshed at
// most once a [`STALE_REFRESH_GATE`]; a token with an unknown `kid` causes at most one fetch per
// `jwks_refetch_cooldown`.

/// How often a stale key set is refreshed at most (`Provider::refresh_if_stale`).
pub const STALE_REFRESH_GATE: Duration = Duration::from_secs(1);

/// Added to every bound derived from the schedule: the fetch itself and scheduling on a shared
/// two-core machine that may be compiling or fuzzing meanwhile. Bounds state the schedule, never
/// a speed.
pub const MARGIN: Duration = Duration::from_secs(3);

/// The library's wait after the `failures`-th failed fetch in a row ([`fetch_backoff`]), for
/// failure counts as a provider counts requests.
pub fn backoff_after(failures: u64) -> Duration {
    fetch_backoff(u32::try_from(failures).unwrap_or(u32::MAX))
}

/// The most fetch attempts the backoff allows within `elapsed` of the first failed one: that
/// one, and one more each time the backoff in force has passed.
pub fn max_attempts_within(elapsed: Duration) -> u64 {
    let mut attempts = 1;
    let mut next = backoff_after(1);
    while next <= elapsed {
        attempts += 1;
        next += backoff_after(attempts);
    }
    attempts
}

/// Polls `probe` every 50 ms until it holds, and answers how long after `since` that was;
/// panics once `bound` has passed since `since`.
pub async fn within<F, Fut>(since: Instant, bound: Duration, what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        if probe().await {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < bound,
            "{what}: not within {bound:?} (a bound from the library's schedule plus margins)"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}
