//! The node's local HTTP API and live dashboard (actix-web, on the current tokio runtime).
//!
//! [`serve`] starts one server for one node from an [`ApiConfig`] (bind address, optional
//! bearer token) and an [`ApiState`] (the node's conductor, its observer events, an optional
//! source of chain totals) and returns an [`ApiHandle`] (the bound address, a stop). A
//! loopback bind may go without a token; any other bind requires one ([`ApiError::TokenRequired`]).
//!
//! Endpoints (JSON; described in `docs/openapi.json`, served at `/api/v1/openapi.json`):
//! `GET /api/v1/status`, `/api/v1/jobs`, `/api/v1/jobs/{id}`, `/api/v1/peers`,
//! `/api/v1/disputes`, `/api/v1/disputes/{id}` (with this node's bisection trace),
//! `/api/v1/events?since=N`, `/api/v1/totals`, `/api/v1/jobs/{id}/result` and its
//! `/checkpoint` (a trained job's result, [`result`]); `POST /api/v1/jobs` (through a
//! [`submit::SubmitSource`] the node provides); `GET /metrics` (OpenMetrics text from a
//! per-node prometheus-client registry); `GET /` (the dashboard: one self-contained page that
//! polls the API). Bad requests get 4xx JSON `{"error": "..."}`.
//!
//! AXL-compatible bridge (so agents written for Gensyn's AXL can talk through a node):
//! `POST /send` (header `X-Destination-Peer-Id`), `GET /recv` (204 when empty, else the bytes
//! with `X-From-Peer-Id`), `GET /topology` ([`bridge`]).
//!
//! Modules: [`auth`] (the bind rule and the bearer check), [`bridge`] (the AXL endpoints),
//! [`log`] (the bounded event ring and dispute traces), [`metrics`], [`routes`] (the
//! handlers), [`submit`] (job submission), [`view`] (the JSON shapes).

pub mod auth;
pub mod bridge;
pub mod log;
pub mod metrics;
pub mod result;
pub mod routes;
pub mod submit;
pub mod view;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;

use crate::supervisor::ChildRef;
use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, middleware, web};
use pinpoint_chain::{ChainError, Settlement, Totals};
use tokio::sync::broadcast;

use crate::conduct::{ConductMsg, Observed, SharedChain};

pub use log::node_events;
pub use submit::{JobRequest, SubmitSource};

/// The default bind address: loopback, a port the OS picks.
pub const DEFAULT_BIND: &str = "127.0.0.1:0";
/// Seconds a stopping server gives open requests.
pub const SHUTDOWN_SECS: u64 = 1;

/// Errors starting the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A non-loopback bind without a bearer token.
    #[error(
        "the API bind address {0} is not loopback: set a bearer token (api.token) or bind 127.0.0.1"
    )]
    TokenRequired(SocketAddr),
    /// The address could not be bound.
    #[error("binding the API to {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Where and how the API listens.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The address to bind (port 0: the OS picks).
    pub bind: SocketAddr,
    /// The bearer token every request must carry (required off loopback).
    pub token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
        }
    }
}

/// A future of the chain's totals.
pub type TotalsFuture = Pin<Box<dyn Future<Output = Result<Totals, ChainError>> + Send>>;
/// Reads the chain's totals on demand.
pub type TotalsSource = Arc<dyn Fn() -> TotalsFuture + Send + Sync>;

/// A [`TotalsSource`] over a node's shared chain handle.
pub fn chain_totals<S>(chain: SharedChain<S>) -> TotalsSource
where
    S: Settlement + Send + Sync + 'static,
{
    Arc::new(move || -> TotalsFuture {
        let chain = chain.clone();
        Box::pin(async move { chain.lock().await.totals().await })
    })
}

/// What the API serves.
pub struct ApiState {
    /// The node's conductor (its current incarnation).
    pub conductor: ChildRef<ConductMsg>,
    /// The node's observer events (subscribe before the node works, to see it all).
    pub events: broadcast::Receiver<Observed>,
    /// The chain's totals, if the node has a source (the dashboard leaves them out if not).
    pub totals: Option<TotalsSource>,
    /// Posts jobs for `POST /api/v1/jobs`, if the node takes jobs through its API.
    pub submit: Option<submit::SubmitSource>,
    /// The AXL-compatible bridge (`POST /send`, `GET /recv`), if the node has one.
    pub bridge: Option<bridge::Bridge>,
    /// Trained jobs' results (`GET /api/v1/jobs/{id}/result`), if the node serves them.
    pub results: Option<result::ResultSource>,
}

/// What a node run from its config (`pinpoint node`, [`crate::run`]) gives its API.
pub struct NodeApi<S> {
    /// The node's conductor (its current incarnation).
    pub conductor: ChildRef<ConductMsg>,
    /// Its observer events (subscribed before the conductor starts).
    pub events: broadcast::Receiver<Observed>,
    /// Its chain (the totals; the time and allowance a submission reads).
    pub chain: SharedChain<S>,
    /// Its settlement actor: the only sender for `account`.
    pub settlement: ChildRef<crate::settlement::SettlementMsg>,
    /// The node's account.
    pub account: pinpoint_chain::Address,
    /// Its store (a posted job's spec is served from it).
    pub store: crate::store::SharedStore,
    /// Its AXL bridge.
    pub bridge: Option<bridge::Bridge>,
    /// The chain's id (to name the node's trained jobs in its store).
    pub chain_id: u64,
    /// The job market's address (the same).
    pub market: pinpoint_chain::Address,
}

/// Starts the API of a node run from its config as its `[api]` section says (`None` when
/// `api.enabled = false`): chain totals from its chain, and `POST /api/v1/jobs` posting as the
/// node's own account through its settlement actor ([`submit::node_submit`]).
///
/// Errors: as [`serve`].
pub fn serve_node<S>(
    section: &crate::config::ApiSection,
    node: NodeApi<S>,
) -> Result<Option<ApiHandle>, ApiError>
where
    S: Settlement + Send + Sync + 'static,
{
    if !section.enabled {
        return Ok(None);
    }
    let config = ApiConfig {
        bind: section.listen,
        token: section.token.clone(),
    };
    let results =
        result::store_results(node.store.clone(), node.account, node.chain_id, node.market);
    let state = ApiState {
        conductor: node.conductor,
        events: node.events,
        totals: Some(chain_totals(node.chain.clone())),
        submit: Some(submit::node_submit(
            node.settlement,
            node.account,
            node.chain,
            node.store,
        )),
        bridge: node.bridge,
        results: Some(results),
    };
    serve(config, state).map(Some)
}

/// A running server.
pub struct ApiHandle {
    addr: SocketAddr,
    server: ServerHandle,
    collector: tokio::task::JoinHandle<()>,
    bridge: Option<bridge::Bridge>,
}

impl std::fmt::Debug for ApiHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ApiHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server (open requests get [`SHUTDOWN_SECS`]), the event collector and the
    /// bridge's router.
    pub async fn stop(self) {
        self.server.stop(true).await;
        self.collector.abort();
        if let Some(b) = &self.bridge {
            b.stop();
        }
    }
}

/// Starts the API of one node on the current tokio runtime.
///
/// Errors: [`ApiError::TokenRequired`] for a non-loopback bind without a token,
/// [`ApiError::Bind`] when the address cannot be bound.
pub fn serve(config: ApiConfig, state: ApiState) -> Result<ApiHandle, ApiError> {
    let token = config.token.filter(|t| !t.is_empty());
    auth::check_bind(config.bind, token.as_deref())?;
    let bind_err = |source| ApiError::Bind {
        addr: config.bind,
        source,
    };
    let listener = TcpListener::bind(config.bind).map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let log = log::SharedLog::default();
    let collector = log::spawn_collector(state.events, log.clone());
    let bridge = state.bridge.clone();
    let shared = web::Data::new(routes::Shared {
        conductor: state.conductor,
        log,
        metrics: metrics::NodeMetrics::new(),
        totals: state.totals,
        submit: state.submit,
        bridge: state.bridge,
        results: state.results,
        token,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .wrap(middleware::from_fn(auth::require_token))
            .configure(routes::configure)
            .default_service(web::to(routes::not_found))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_SECS)
    .listen(listener)
    .map_err(bind_err)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(ApiHandle {
        addr,
        server: handle,
        collector,
        bridge,
    })
}
