use oidc_actix::{IdToken, auth};

#[auth::required(claims = {"a": null, "b": [["x"]], "c": 1u8, "d": 'x', "e": -"x", "a": "again"})]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
