//! The endpoints: each reads one conductor [`Snapshot`] (and the event log) and answers JSON;
//! every failure is a 4xx/5xx JSON `{"error": "..."}`, never a panic.

use std::time::Duration;

use crate::supervisor::ChildRef;
use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use ractor::rpc::CallResult;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::conduct::{ConductMsg, Snapshot};

use super::TotalsSource;
use super::log::SharedLog;
use super::metrics::NodeMetrics;
use super::submit::{JobBody, SubmitSource};
use super::view;

/// How long a handler waits for the conductor's snapshot.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(5);

/// The dashboard page.
const DASHBOARD: &str = include_str!("dashboard.html");
/// The OpenAPI description (the checked-in `docs/openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Every route (path, method), as `docs/openapi.json` must describe them (tested).
pub const ROUTES: [(&str, &str); 17] = [
    ("/", "get"),
    ("/metrics", "get"),
    ("/api/v1/openapi.json", "get"),
    ("/api/v1/status", "get"),
    ("/api/v1/jobs", "get"),
    ("/api/v1/jobs", "post"),
    ("/api/v1/jobs/{id}", "get"),
    ("/api/v1/jobs/{id}/result", "get"),
    ("/api/v1/jobs/{id}/result/checkpoint", "get"),
    ("/api/v1/peers", "get"),
    ("/api/v1/disputes", "get"),
    ("/api/v1/disputes/{id}", "get"),
    ("/api/v1/events", "get"),
    ("/api/v1/totals", "get"),
    ("/send", "post"),
    ("/recv", "get"),
    ("/topology", "get"),
];

/// What the handlers share (one per server).
pub struct Shared {
    /// The node's conductor.
    pub conductor: ChildRef<ConductMsg>,
    /// The node's recent events.
    pub log: SharedLog,
    /// The node's metrics.
    pub metrics: NodeMetrics,
    /// The chain's totals, when the node has a source for them.
    pub totals: Option<TotalsSource>,
    /// Posts jobs, when the node lets the API do so.
    pub submit: Option<SubmitSource>,
    /// The AXL bridge, when the node has one.
    pub bridge: Option<super::bridge::Bridge>,
    /// Trained jobs' results, when the node serves them.
    pub results: Option<super::result::ResultSource>,
    /// The bearer token, when one is required.
    pub token: Option<String>,
}

/// Largest `POST /api/v1/jobs` body.
pub const JOB_BODY_LIMIT_BYTES: usize = 1 << 20;

type Data = web::Data<Shared>;

/// A JSON error answer.
pub fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.into() }))
}

fn ok(v: Value) -> HttpResponse {
    HttpResponse::Ok().json(v)
}

/// The conductor's snapshot, or the 503 answer.
pub async fn snapshot(d: &Shared) -> Result<Snapshot, HttpResponse> {
    let unavailable = |why: String| error(StatusCode::SERVICE_UNAVAILABLE, why);
    let Some(conductor) = d.conductor.get() else {
        return Err(unavailable("the node's conductor is restarting".into()));
    };
    match conductor
        .call(ConductMsg::Snapshot, Some(SNAPSHOT_TIMEOUT))
        .await
    {
        Ok(CallResult::Success(s)) => Ok(s),
        Ok(CallResult::Timeout) => Err(unavailable("the node did not answer in time".into())),
        Ok(CallResult::SenderError) => Err(unavailable("the node dropped the request".into())),
        Err(e) => Err(unavailable(format!("the node is not running: {e}"))),
    }
}

/// A path id, or the 400 message.
fn parse_id(raw: &str, what: &str) -> Result<u64, String> {
    raw.parse::<u64>()
        .map_err(|_| format!("{what} id must be a non-negative integer, got {raw:?}"))
}

async fn status(d: Data) -> HttpResponse {
    match snapshot(&d).await {
        Ok(s) => ok(view::status(&s, &d.log.lock())),
        Err(r) => r,
    }
}

async fn jobs(d: Data) -> HttpResponse {
    match snapshot(&d).await {
        Ok(s) => ok(view::jobs(&s, &d.log.lock())),
        Err(r) => r,
    }
}

async fn post_job(d: Data, body: web::Json<JobBody>) -> HttpResponse {
    let Some(submit) = d.submit.as_ref() else {
        return error(
            StatusCode::NOT_FOUND,
            "this node does not take jobs through its API",
        );
    };
    let req = match body.request() {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match submit(req).await {
        Ok(id) => HttpResponse::Created().json(json!({ "id": id })),
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            format!("the node could not post the job: {e}"),
        ),
    }
}

async fn job(d: Data, id: web::Path<String>) -> HttpResponse {
    let id = match parse_id(&id, "a job") {
        Ok(id) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match snapshot(&d).await {
        Ok(s) => match s.jobs.get(&id) {
            Some(j) => ok(view::job(id, j, &d.log.lock())),
            None => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        },
        Err(r) => r,
    }
}

/// A job's result through the node's [`super::result::ResultSource`], or the 4xx/5xx answer.
async fn job_result(d: &Shared, raw: &str) -> Result<super::result::JobResult, HttpResponse> {
    let id = parse_id(raw, "a job").map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let Some(source) = d.results.as_ref() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "this node serves no job results",
        ));
    };
    match source(id).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "this node holds no trained result of job {id} (ask a trainer that trained it)"
            ),
        )),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading job {id}'s result: {e}"),
        )),
    }
}

async fn result(d: Data, id: web::Path<String>) -> HttpResponse {
    match job_result(&d, &id).await {
        Ok(r) => ok(json!({
            "account": r.account.to_string(),
            "step": r.step,
            "hashes": r.hashes.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
            "checkpoint": {
                "hash": pinpoint_train::Digest::content(&r.checkpoint).to_hex(),
                "bytes": r.checkpoint.len(),
            },
        })),
        Err(resp) => resp,
    }
}

async fn result_checkpoint(d: Data, id: web::Path<String>) -> HttpResponse {
    match job_result(&d, &id).await {
        Ok(r) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(r.checkpoint),
        Err(resp) => resp,
    }
}

async fn peers(d: Data) -> HttpResponse {
    match snapshot(&d).await {
        Ok(s) => ok(view::peers(&s)),
        Err(r) => r,
    }
}

fn dispute_view(s: &Snapshot, d: &Shared, id: u64) -> Option<Value> {
    let log = d.log.lock();
    let chain = s.disputes.get(&id);
    let trace = log.dispute(id);
    if chain.is_none() && trace.is_none() {
        return None;
    }
    let job = chain.map(|c| c.job).or_else(|| trace.and_then(|t| t.job));
    let steps = job.and_then(|j| view::steps_of(j, s.jobs.get(&j), &log));
    Some(view::dispute(id, chain, trace, steps))
}

async fn disputes(d: Data) -> HttpResponse {
    match snapshot(&d).await {
        Ok(s) => {
            let mut ids: Vec<u64> = s.disputes.keys().copied().collect();
            ids.extend(d.log.lock().disputes().keys().copied());
            ids.sort_unstable();
            ids.dedup();
            ok(Value::Array(
                ids.into_iter()
                    .filter_map(|id| dispute_view(&s, &d, id))
                    .collect(),
            ))
        }
        Err(r) => r,
    }
}

async fn dispute(d: Data, id: web::Path<String>) -> HttpResponse {
    let id = match parse_id(&id, "a dispute") {
        Ok(id) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match snapshot(&d).await {
        Ok(s) => match dispute_view(&s, &d, id) {
            Some(v) => ok(v),
            None => error(StatusCode::NOT_FOUND, format!("no dispute {id}")),
        },
        Err(r) => r,
    }
}

/// `?since=N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Since {
    since: Option<u64>,
}

async fn events(d: Data, q: web::Query<Since>) -> HttpResponse {
    let log = d.log.lock();
    let page = log.since(q.since.unwrap_or(0));
    // The `since` of the next poll: after this page (a full page leaves more to fetch).
    let next = page.last().map_or(log.next_seq(), |(seq, _)| seq + 1);
    let events: Vec<Value> = page.iter().map(|(seq, e)| view::event(*seq, e)).collect();
    ok(json!({ "next": next, "lost": log.lost(), "events": events }))
}

async fn totals(d: Data) -> HttpResponse {
    let Some(source) = d.totals.as_ref() else {
        return error(
            StatusCode::NOT_FOUND,
            "this node has no source of chain totals",
        );
    };
    match source().await {
        Ok(t) => ok(view::totals(&t)),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the chain's totals: {e}"),
        ),
    }
}

async fn metrics(d: Data) -> HttpResponse {
    let s = match snapshot(&d).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let lost = d.log.lock().lost();
    d.metrics.update(&s, lost);
    match d.metrics.encode() {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics: {e}"),
        ),
    }
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(OPENAPI)
}

async fn dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(DASHBOARD)
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
}

/// Unknown paths.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        format!("no such path: {}", req.path()),
    )
}

fn get<F, Args>(path: &str, handler: F) -> Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(method_not_allowed))
}

/// Registers every route of [`ROUTES`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|e, _| {
        let resp = error(StatusCode::BAD_REQUEST, format!("bad query string: {e}"));
        actix_web::error::InternalError::from_response(e, resp).into()
    }))
    .service(get("/", dashboard))
    .service(get("/metrics", metrics))
    .service(get("/api/v1/openapi.json", openapi))
    .service(get("/api/v1/status", status))
    .app_data(
        web::JsonConfig::default()
            .limit(JOB_BODY_LIMIT_BYTES)
            .error_handler(|e, _| {
                let resp = error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}"));
                actix_web::error::InternalError::from_response(e, resp).into()
            }),
    )
    .service(get("/api/v1/jobs", jobs).route(web::post().to(post_job)))
    .service(get("/api/v1/jobs/{id}", job))
    .service(get("/api/v1/jobs/{id}/result", result))
    .service(get(
        "/api/v1/jobs/{id}/result/checkpoint",
        result_checkpoint,
    ))
    .service(get("/api/v1/peers", peers))
    .service(get("/api/v1/disputes", disputes))
    .service(get("/api/v1/disputes/{id}", dispute))
    .service(get("/api/v1/events", events))
    .service(get("/api/v1/totals", totals))
    .service(
        web::resource("/send")
            .route(web::post().to(super::bridge::send))
            .default_service(web::to(method_not_allowed)),
    )
    .service(get("/recv", super::bridge::recv))
    .service(get("/topology", super::bridge::topology));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_file_describes_every_route_and_no_other() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("docs/openapi.json is JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let paths = doc["paths"].as_object().expect("paths");
        for (path, method) in ROUTES {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} missing from docs/openapi.json"
            );
        }
        let operations: usize = paths
            .values()
            .filter_map(Value::as_object)
            .map(|p| {
                p.keys()
                    .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                    .count()
            })
            .sum();
        assert_eq!(
            operations,
            ROUTES.len(),
            "a stale operation in docs/openapi.json"
        );
    }
}
