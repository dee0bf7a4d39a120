//! Reading the `Cookie` header and writing `Set-Cookie` values: HttpOnly, SameSite=Lax, and
//! Secure when the request came over https.

use axum::http::HeaderMap;

/// The value of cookie `name` in the request, if sent.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the request reached us over https: directly, or through a proxy that says so in
/// `X-Forwarded-Proto`.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value; `max_age` of `None` ends with the browser session, `Some(0)` deletes.
pub fn set(headers: &HeaderMap, name: &str, value: &str, max_age: Option<i64>) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if is_https(headers) {
        cookie.push_str("; Secure");
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_static("a=1; aig_x=2;aig=3"));
        assert_eq!(get(&h, "aig"), Some("3"));
        assert_eq!(get(&h, "aig_x"), Some("2"));
        assert_eq!(get(&h, "b"), None);
    }

    #[test]
    fn secure_only_over_https() {
        let mut h = HeaderMap::new();
        assert!(!set(&h, "s", "v", Some(60)).contains("Secure"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let c = set(&h, "s", "v", Some(60));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("Secure"));
    }
}
