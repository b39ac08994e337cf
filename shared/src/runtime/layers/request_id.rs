//! Layer 1: every request gets an id, the caller's `X-Request-Id` when it
//! is a sane one (at most 128 characters of `[A-Za-z0-9-_.:]`), else a
//! random one; it is echoed in the response and every log line.

use rand::RngCore;

use crate::http::ApiRequest;

/// Sets the request's id.
pub fn assign(req: &mut ApiRequest) {
    req.request_id = request_id(req);
}

fn request_id(req: &ApiRequest) -> String {
    let given = req.header("x-request-id").unwrap_or("");
    let ok = !given.is_empty()
        && given.len() <= 128
        && given
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        given.to_string()
    } else {
        let mut b = [0u8; 12];
        rand::rng().fill_bytes(&mut b);
        crate::hex::hex(&b)
    }
}
