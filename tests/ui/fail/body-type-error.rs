use oidc_actix::{IdToken, auth};

// The error points into the body; the note points at the declared return type, which the
// generated code uses to type the body (not at the macro's private wrapper).
#[auth::required]
async fn handler(token: IdToken) -> String {
    if token.sub.is_none() {
        return 42;
    }
    String::new()
}

#[auth::required]
async fn question_mark(_token: IdToken) -> Result<String, actix_web::Error> {
    let n: u32 = "1".parse()?;
    Ok(n)
}

fn main() {}
