//! The `token_route` target: the token route's form parsing, grant selection and upstream form,
//! and the normalisation of the provider's answer.

use oidc_actix::__fuzz::{self, Sealer};
use serde_json::{Value, json};

use super::state::{REPLAYED, sealed_seed_state};
use super::{NOW, Outcome, STATE_SECRET, Seed, split_mode, with_mode};

/// The token route's path, for the default redirect URI.
const TOKEN_PATH: &str = "/api/auth/v2/token";
/// Content types the form mode picks from (absent, the form type in several spellings, and
/// types the route refuses).
const CONTENT_TYPES: [&str; 8] = [
    "",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=UTF-8",
    " Application/X-WWW-Form-URLencoded ;",
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=x",
    ";",
];
/// The configured `proxy`, if any, the default redirect URI derives from.
const PROXIES: [Option<&str>; 3] = [
    None,
    Some("https://app.example.org/base/"),
    Some("http://localhost:8080"),
];
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The token route's form parsing and dispatch, and the normalisation of the provider's answer.
///
/// * mode `0`: the next byte picks the `Content-Type` (`% 8`) and the configured proxy
///   (`/ 8 % 3`); the rest is the request body. Invariants: a refused body is a 400 or 415; an
///   accepted grant is the one `grant_type` names (or the first of code, refresh token and
///   device code), carries the form's values, never forwards a sealed state as `code_verifier`,
///   uses the state's redirect URI, and a sealed state is accepted once only.
/// * mode `1`: the rest is the provider's token answer (JSON). Invariants: the six-field answer
///   has a non-empty access token and token type, the provider's values where it gave them, and
///   a refresh expiry in the future for a refresh token of unknown lifetime.
pub fn run(data: &[u8]) -> Outcome {
    match split_mode(data) {
        Some((0, rest)) => token_form(rest),
        Some((_, rest)) => token_answer(rest),
        None => Outcome::Rejected,
    }
}

/// The first non-empty value of the first of `names` that has one (how the route reads fields).
fn field(form: &[(String, String)], names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        form.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    })
}

fn token_form(rest: &[u8]) -> Outcome {
    let Some((&choice, body)) = rest.split_first() else {
        return Outcome::Rejected;
    };
    let content_type = CONTENT_TYPES[usize::from(choice % 8)];
    let proxy = PROXIES[usize::from(choice / 8 % 3)];
    let form = match __fuzz::parse_form(content_type, body) {
        Ok(form) => form,
        Err(status) => {
            assert!(
                status == 400 || status == 415,
                "a refused form body answers {status}"
            );
            return Outcome::Rejected;
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        assert!(form.is_empty(), "a blank body is an empty form");
    }
    let sealer = Sealer::new(STATE_SECRET);
    let upstream = match __fuzz::upstream_form(&form, &sealer, proxy, TOKEN_PATH) {
        Ok(upstream) => upstream,
        Err(why) => {
            assert!(!why.is_empty(), "an empty error detail");
            return Outcome::Rejected;
        }
    };
    let sent = |name: &str| {
        upstream
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    let explicit = field(&form, &["grant_type"]);
    let code = field(&form, &["code"]);
    let refresh = field(&form, &["refresh-token", "refresh_token"]);
    let device = field(&form, &["device-code", "device_code"]);
    let grant_type = sent("grant_type").expect("every upstream form names its grant");
    if let Some(explicit) = &explicit {
        assert_eq!(explicit, grant_type, "grant_type was not obeyed");
    }
    match grant_type {
        "authorization_code" => {
            assert_eq!(sent("code"), code.as_deref(), "the code was not forwarded");
            let verifier = sent("code_verifier").unwrap_or_default();
            assert!(
                !Sealer::is_sealed(verifier),
                "a sealed state was forwarded to the provider"
            );
            let given = field(&form, &["code_verifier"]);
            let redirect_uri = sent("redirect_uri").unwrap_or_default();
            match given.as_deref() {
                Some(sealed) if Sealer::is_sealed(sealed) => {
                    let replay = __fuzz::upstream_form(&form, &sealer, proxy, TOKEN_PATH);
                    assert_eq!(replay, Err(REPLAYED), "a sealed state was accepted twice");
                    let state = sealer.open(sealed).expect("a consumed state opens");
                    let (state_verifier, state_redirect_uri) = state.verifier_and_redirect_uri();
                    assert_eq!(
                        verifier, state_verifier,
                        "the state's verifier was not used"
                    );
                    assert_eq!(redirect_uri, state_redirect_uri, "the login's redirect_uri");
                }
                other => {
                    assert_eq!(verifier, other.unwrap_or_default(), "the verifier changed");
                    let expected = field(&form, &["redirect_uri"])
                        .or_else(|| proxy.map(|p| format!("{}{TOKEN_PATH}", origin(p))))
                        .unwrap_or_default();
                    assert_eq!(redirect_uri, expected, "the redirect_uri");
                }
            }
        }
        "refresh_token" => {
            assert!(explicit.is_some() || code.is_none(), "a code comes first");
            assert_eq!(sent("refresh_token"), refresh.as_deref());
        }
        DEVICE_GRANT => {
            assert!(
                explicit.is_some() || code.is_none() && refresh.is_none(),
                "a code or refresh token comes first"
            );
            assert_eq!(sent("device_code"), device.as_deref());
        }
        other => panic!("unknown upstream grant {other:?}"),
    }
    Outcome::Accepted
}

/// `scheme://authority` of a URL (what Python's `urljoin` keeps for an absolute path).
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    url[start..].find('/').map_or(url, |i| &url[..start + i])
}

fn token_answer(rest: &[u8]) -> Outcome {
    let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(rest) else {
        return Outcome::Rejected;
    };
    let Ok(token) = __fuzz::normalise(&answer, NOW) else {
        assert!(
            answer
                .get("access_token")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty),
            "an answer with an access token was refused"
        );
        return Outcome::Rejected;
    };
    let text = |name: &str| {
        token[name]
            .as_str()
            .unwrap_or_else(|| panic!("the answer's {name} is not a string: {token}"))
    };
    assert!(!text("access_token").is_empty() && !text("token_type").is_empty());
    assert_eq!(
        answer.get("access_token").and_then(Value::as_str),
        Some(text("access_token"))
    );
    let refresh = answer.get("refresh_token").and_then(Value::as_str);
    assert_eq!(text("refresh_token"), refresh.unwrap_or_default());
    let given = |names: &[&str]| names.iter().any(|name| answer.contains_key(*name));
    if !text("refresh_token").is_empty()
        && !given(&["refresh_exp", "refresh_expires", "refresh_expires_at"])
    {
        let refresh_expires = token["refresh_expires"].as_i64();
        assert!(
            refresh_expires.is_some_and(|at| at > NOW),
            "a refresh token of unknown lifetime is already expired ({refresh_expires:?})"
        );
    }
    Outcome::Accepted
}

/// Request forms of every grant (mode `0`), with and without a sealed login state, and provider
/// answers of several shapes (mode `1`).
pub fn seeds() -> Vec<Seed> {
    use Outcome::{Accepted, Rejected};
    let mut seeds = Vec::new();
    let mut add = |name: &str, data: Vec<u8>, expected| {
        seeds.push(Seed::new("token_route", name, data, expected));
    };
    let sealed = sealed_seed_state();
    let forms = [
        ("code", "1", "grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2Flocalhost%3A53100%2Fcallback&code_verifier=xyz".to_owned(), Accepted),
        ("code-default-redirect", "9", "code=abc&code_verifier=xyz".to_owned(), Accepted),
        ("code-sealed-state", "A", format!("code=abc&code_verifier={sealed}"), Accepted),
        ("code-sealed-wrong-redirect", "1", format!("code=abc&redirect_uri=http%3A%2F%2Fevil%2Fcb&code_verifier={sealed}"), Rejected),
        ("refresh-hyphen", "0", "refresh-token=r1".to_owned(), Accepted),
        ("refresh-explicit", "1", "grant_type=refresh_token&refresh_token=r1&code=c".to_owned(), Accepted),
        ("device", "2", "device-code=d1".to_owned(), Accepted),
        ("device-explicit", "1", format!("grant_type={}&device_code=d1", DEVICE_GRANT.replace(':', "%3A")), Accepted),
        ("password", "1", "grant_type=password&username=u".to_owned(), Rejected),
        ("missing", "1", "refresh-token=".to_owned(), Rejected),
        ("json", "4", r#"{"code":"abc"}"#.to_owned(), Rejected),
        ("blank", "5", " \r\n".to_owned(), Rejected),
    ];
    for (name, choice, body, expected) in forms {
        add(
            &format!("form-{name}"),
            with_mode("0", format!("{choice}{body}").as_bytes()),
            expected,
        );
    }
    let answers = [
        (
            "keycloak",
            json!({"access_token": "a", "token_type": "Bearer", "expires_in": 300,
                            "refresh_token": "r", "refresh_expires_in": 1800, "scope": "openid"}),
            Accepted,
        ),
        (
            "offline",
            json!({"access_token": "a", "expires_in": 300, "refresh_token": "r",
                           "refresh_expires_in": 0}),
            Accepted,
        ),
        (
            "absolute",
            json!({"access_token": "a", "expires_at": NOW + 60,
                            "refresh_expires": NOW + 120, "refresh_token": "r"}),
            Accepted,
        ),
        (
            "string-expiry",
            json!({"access_token": "a", "expires_in": " 300 "}),
            Accepted,
        ),
        ("no-access-token", json!({"token_type": "Bearer"}), Rejected),
    ];
    for (name, answer, expected) in answers {
        add(
            &format!("answer-{name}"),
            with_mode("1", answer.to_string().as_bytes()),
            expected,
        );
    }
    seeds
}
