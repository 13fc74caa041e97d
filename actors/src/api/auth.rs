//! Who may talk to the API: a loopback bind may go without a token; any other bind address
//! requires one ([`check_bind`]), and with a token every request but the dashboard's static page
//! (`GET /`, which carries no node data) must carry `Authorization: Bearer <token>` (401 JSON
//! otherwise).

use std::net::SocketAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use super::ApiError;
use super::routes::Shared;

/// Refuses a non-loopback `bind` without a (non-empty) token.
///
/// Errors: [`ApiError::TokenRequired`].
pub fn check_bind(bind: SocketAddr, token: Option<&str>) -> Result<(), ApiError> {
    let has_token = token.is_some_and(|t| !t.is_empty());
    if !bind.ip().is_loopback() && !has_token {
        return Err(ApiError::TokenRequired(bind));
    }
    Ok(())
}

/// Compares without an early exit on the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `header` is `Bearer <token>`.
pub fn bearer_ok(header: Option<&[u8]>, token: &str) -> bool {
    let Some(h) = header else { return false };
    let Some(rest) = h.strip_prefix(b"Bearer ") else {
        return false;
    };
    same(rest, token.as_bytes())
}

/// The middleware: passes a request that needs no token or carries the right one.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let token = req
        .app_data::<web::Data<Shared>>()
        .and_then(|s| s.token.clone());
    let open_page = req.method() == Method::GET && req.path() == "/";
    if let Some(token) = token
        && !open_page
    {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !bearer_ok(given, &token) {
            let resp = HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .json(serde_json::json!({ "error": "missing or wrong bearer token (send `Authorization: Bearer <token>`)" }));
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_goes_without_a_token() {
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let lo6: SocketAddr = "[::1]:0".parse().expect("addr");
        let any: SocketAddr = "0.0.0.0:0".parse().expect("addr");
        assert!(check_bind(lo, None).is_ok());
        assert!(check_bind(lo6, None).is_ok());
        assert!(matches!(
            check_bind(any, None),
            Err(ApiError::TokenRequired(_))
        ));
        assert!(check_bind(any, Some("")).is_err());
        assert!(check_bind(any, Some("s3cret")).is_ok());
    }

    #[test]
    fn the_bearer_header_must_match_exactly() {
        assert!(bearer_ok(Some(b"Bearer abc"), "abc"));
        assert!(!bearer_ok(Some(b"Bearer abd"), "abc"));
        assert!(!bearer_ok(Some(b"Bearer abcd"), "abc"));
        assert!(!bearer_ok(Some(b"bearer abc"), "abc"));
        assert!(!bearer_ok(None, "abc"));
    }
}
