//! The node's HTTP API ([`pinpoint_actors::api`]) over a devnet in one process: the arbiters'
//! and the submitter's APIs on 127.0.0.1 (OS-chosen ports) through a job with a cheating
//! trainer, its dispute and verdict; every endpoint, bad input, the token rule; the AXL bridge
//! between two nodes. Requests go over a raw HTTP/1.1 connection (no client library).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pinpoint_actors::api::bridge::{Bridge, DESTINATION_HEADER};
use pinpoint_actors::api::{self, ApiConfig, ApiError, ApiHandle, ApiState};
use pinpoint_actors::conduct::{Cheat, ConductMsg};
use pinpoint_actors::devnet::{Devnet, Plan};
use pinpoint_actors::network::app::APP_INBOX_CAPACITY;
use pinpoint_actors::supervisor::ChildRef;
use pinpoint_chain::Role;
use pinpoint_protocol::wire::MAX_APP_BYTES;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;

/// One response: status, head (lowercased), body.
struct Resp {
    status: u16,
    head: String,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// Asserts a 4xx JSON error naming `needle`.
    fn error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.head.contains("content-type: application/json"),
            "{}",
            self.head
        );
        let msg = self.json()["error"].as_str().map(str::to_owned);
        assert!(
            msg.as_deref().is_some_and(|m| m.contains(needle)),
            "{msg:?} should name {needle:?}"
        );
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    send(addr, method, path, headers, "").await
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    Resp {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[]).await
}

/// A conductor that drops every request (a node that is not answering).
struct Silent;

impl Actor for Silent {
    type Msg = ConductMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<ConductMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<ConductMsg>,
        _: ConductMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

fn silent_state(conductor: ActorRef<ConductMsg>) -> ApiState {
    ApiState {
        conductor: ChildRef::fixed(conductor),
        events: tokio::sync::broadcast::channel(8).1,
        totals: None,
        submit: None,
        bridge: None,
        results: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_bind_needs_a_token_and_a_token_is_checked() {
    let (conductor, _h) = Actor::spawn(None, Silent, ()).await.expect("spawn");
    let open = ApiConfig {
        bind: "0.0.0.0:0".parse().expect("addr"),
        token: None,
    };
    let refused = api::serve(open, silent_state(conductor.clone()));
    match refused {
        Err(e @ ApiError::TokenRequired(_)) => {
            assert!(e.to_string().contains("bearer token"), "{e}")
        }
        other => panic!("a non-loopback bind without a token started: {other:?}"),
    }
    let empty = ApiConfig {
        bind: "0.0.0.0:0".parse().expect("addr"),
        token: Some(String::new()),
    };
    assert!(api::serve(empty, silent_state(conductor.clone())).is_err());

    let guarded = ApiConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        token: Some("s3cret".into()),
    };
    let h = api::serve(guarded, silent_state(conductor.clone())).expect("serves");
    let a = h.addr();
    get(a, "/api/v1/openapi.json").await.error(401, "bearer");
    request(a, "GET", "/metrics", &[("Authorization", "Bearer wrong")])
        .await
        .error(401, "bearer");
    let ok = request(
        a,
        "GET",
        "/api/v1/openapi.json",
        &[("Authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // The dashboard's page carries no data and loads without the header.
    assert_eq!(get(a, "/").await.status, 200);
    // A node that does not answer: 503 JSON, not a hang or a panic.
    request(
        a,
        "GET",
        "/api/v1/status",
        &[("Authorization", "Bearer s3cret")],
    )
    .await
    .error(503, "node");
    h.stop().await;
    conductor.stop(None);
}

/// Serves node `index` of `net` on 127.0.0.1 with its events from now on (the submitter, index
/// 0, takes jobs).
fn serve(net: &Arc<Devnet>, index: usize) -> ApiHandle {
    api::serve(
        ApiConfig::default(),
        ApiState {
            conductor: net.nodes[index].conductor.clone(),
            events: api::node_events(net.subscribe(), index),
            totals: Some(api::chain_totals(net.chain.clone())),
            submit: (index == 0).then(|| api::submit::devnet_submit(net.clone())),
            bridge: None,
            results: None,
        },
    )
    .expect("the API serves")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_a_devnet_job_its_dispute_bisection_and_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = Plan::standard(dir.path(), Some(Cheat { step: 3, node: 2 }));
    plan.samples = 0;
    let net = Arc::new(Devnet::start(&plan).await.expect("devnet starts"));
    let arbiters: Vec<usize> = (0..net.nodes.len())
        .filter(|&i| net.nodes[i].role == Some(Role::Arbiter))
        .collect();
    let sub = serve(&net, 0);
    let arb: Vec<ApiHandle> = arbiters.iter().map(|&i| serve(&net, i)).collect();
    let s = sub.addr();

    // the job goes in through the submitter's API
    let json = |v: Value| v.to_string();
    let ct = [("Content-Type", "application/json")];
    let body = serde_json::json!({ "spec": common::SPEC_TOML_6, "replicas": 3 });
    send(s, "POST", "/api/v1/jobs", &ct, "{not json")
        .await
        .error(400, "JSON");
    let bad_spec = serde_json::json!({ "spec": "steps = ", "replicas": 3 });
    send(s, "POST", "/api/v1/jobs", &ct, &json(bad_spec))
        .await
        .error(400, "spec");
    let zero = serde_json::json!({ "spec": common::SPEC_TOML_6, "replicas": 0 });
    send(s, "POST", "/api/v1/jobs", &ct, &json(zero))
        .await
        .error(400, "replicas");
    // an arbiter's API takes no jobs
    send(
        arb[0].addr(),
        "POST",
        "/api/v1/jobs",
        &ct,
        &json(body.clone()),
    )
    .await
    .error(404, "jobs");
    let posted = send(s, "POST", "/api/v1/jobs", &ct, &json(body)).await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let job = posted.json()["id"].as_u64().expect("a job id");
    let path = format!("/api/v1/jobs/{job}");
    let mut finalized = false;
    for _ in 0..1_200 {
        let r = get(s, &path).await;
        if r.status == 200 && r.json()["state"] == "finalized" {
            finalized = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        finalized,
        "job {job} not finalized: {}",
        get(s, &path).await.body
    );

    // status
    let st = get(s, "/api/v1/status").await;
    assert_eq!(st.status, 200);
    let st = st.json();
    assert_eq!(st["node"], net.nodes[0].node.to_hex());
    assert_eq!(st["account"], net.nodes[0].account.to_string());
    assert!(st["counters"]["tx_ok"].as_u64().is_some(), "{st}");
    assert_eq!(
        st["roles"],
        serde_json::json!([]),
        "the submitter serves no role"
    );
    assert!(st["chain_time"].as_u64().is_some_and(|t| t > 0), "{st}");

    // jobs, one job
    let jobs = get(s, "/api/v1/jobs").await.json();
    let listed = jobs
        .as_array()
        .and_then(|a| a.iter().find(|j| j["id"] == job))
        .expect("the job is listed");
    assert_eq!(listed["state"], "finalized");
    assert_eq!(listed["replicas"], 3);
    assert_eq!(
        listed["trainers"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );
    let one = get(s, &path).await.json();
    assert_eq!(&one, listed);
    let roots = one["roots"].as_object().map(|r| r.len());
    assert_eq!(roots, Some(3), "{one}");

    // peers: every other node is registered
    let peers = get(s, "/api/v1/peers").await.json();
    assert_eq!(
        peers.as_array().map(Vec::len),
        Some(net.nodes.len() - 1),
        "{peers}"
    );

    // the dispute, as the arbiters refereed it (their collectors may trail the chain a little)
    let mut shown = None;
    for _ in 0..600 {
        for h in &arb {
            let all = get(h.addr(), "/api/v1/disputes").await.json();
            let with_verdict = all.as_array().and_then(|a| {
                a.iter()
                    .find(|d| {
                        !d["bisection"]["verdict"].is_null() && !d["chain"]["ruling"].is_null()
                    })
                    .cloned()
            });
            if let Some(d) = with_verdict {
                shown = Some((h.addr(), d));
            }
        }
        if shown.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (a, d) = shown.expect("an arbiter shows the dispute with its verdict");
    let id = d["id"].as_u64().expect("a dispute id");
    let one = get(a, &format!("/api/v1/disputes/{id}")).await;
    assert_eq!(one.status, 200);
    let one = one.json();
    let b = &one["bisection"];
    assert_eq!(b["verdict"]["ruling_name"], "challenger_wins", "{one}");
    assert_eq!(b["verdict"]["settled"], "recomputed", "{one}");
    assert_eq!(
        (b["verdict"]["step"].as_u64(), b["verdict"]["node"].as_u64()),
        (Some(2), Some(2)),
        "{one}"
    );
    assert_eq!(b["node_phase"]["lo"], 2, "{one}");
    let kinds: Vec<&str> = b["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .filter_map(|q| q["probe"]["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"step") && kinds.contains(&"node"),
        "{kinds:?}"
    );
    // The step range narrowed from [0, 6] to the one disputed step [2, 3].
    let ranges = b["step_ranges"].as_array().expect("step ranges");
    assert_eq!(ranges.first(), Some(&serde_json::json!([0, 6])), "{one}");
    assert_eq!(ranges.last(), Some(&serde_json::json!([2, 3])), "{one}");
    assert_eq!(one["chain"]["job"], job, "{one}");
    // the arbiter fetched the spec: its view of the job knows T
    let aj = get(a, &path).await.json();
    assert_eq!(aj["steps"], 6, "{aj}");
    assert_eq!(
        get(a, "/api/v1/status").await.json()["roles"],
        serde_json::json!(["arbiter"])
    );
    assert_eq!(one["chain"]["ruling"], 1, "{one}");

    // events: numbered, paged by `since`, and `since` past the end gives none
    let mut since = 0;
    let mut kinds = Vec::new();
    loop {
        let page = get(a, &format!("/api/v1/events?since={since}"))
            .await
            .json();
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            break;
        }
        for e in &events {
            let seq = e["seq"].as_u64().expect("seq");
            assert!(seq >= since, "{e}");
            kinds.push(e["event"]["kind"].as_str().unwrap_or("").to_owned());
        }
        since = page["next"].as_u64().expect("next");
    }
    assert!(kinds.iter().any(|k| k == "verdict"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "query"), "{kinds:?}");

    // metrics: the submitter's book has the job finalized; the arbiter counted its verdict
    let m = get(s, "/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m.head.contains("openmetrics-text"), "{}", m.head);
    for needle in [
        "pinpoint_jobs{state=\"finalized\"} 1",
        "pinpoint_jobs{state=\"disputed\"} 0",
        "pinpoint_transactions_ok_total",
        "pinpoint_messages_sent_total",
        "pinpoint_sent_bytes_total",
        "pinpoint_trained_jobs_total 0",
        "pinpoint_verdicts_total 0",
        "pinpoint_peers ",
        "# EOF",
    ] {
        assert!(m.body.contains(needle), "{needle} missing:\n{}", m.body);
    }
    let am = get(a, "/metrics").await;
    let verdicts = am
        .body
        .lines()
        .find_map(|l| l.strip_prefix("pinpoint_verdicts_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(verdicts.is_some_and(|v| v >= 1), "{}", am.body);

    // totals
    let t = get(s, "/api/v1/totals").await.json();
    assert_eq!(t["disputes"], 1, "{t}");

    // openapi: the served description is the checked-in file
    let served = get(s, "/api/v1/openapi.json").await;
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .expect("docs/openapi.json");
    assert_eq!(served.body, file);

    // the dashboard
    let page = get(s, "/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.head.contains("content-type: text/html"),
        "{}",
        page.head
    );
    assert!(page.body.contains("/api/v1/disputes"));
    assert!(
        !page.body.contains("http://") && !page.body.contains("https://"),
        "no request leaves the machine"
    );

    // bad input
    get(s, "/api/v1/jobs/abc").await.error(400, "integer");
    get(s, "/api/v1/jobs/-1").await.error(400, "integer");
    get(s, "/api/v1/jobs/99999").await.error(404, "no job");
    get(s, "/api/v1/disputes/99999")
        .await
        .error(404, "no dispute");
    get(s, "/api/v1/disputes/x").await.error(400, "integer");
    get(s, "/api/v1/events?since=x").await.error(400, "query");
    get(s, "/api/v1/events?bogus=1").await.error(400, "query");
    get(s, "/api/v2/nothing").await.error(404, "no such path");
    request(s, "POST", "/api/v1/status", &[])
        .await
        .error(405, "POST");
    request(s, "DELETE", "/api/v1/jobs/1", &[])
        .await
        .error(405, "DELETE");

    sub.stop().await;
    for h in arb {
        h.stop().await;
    }
}

/// Serves node `index` of `net` with an AXL bridge.
async fn serve_bridged(net: &Arc<Devnet>, index: usize) -> ApiHandle {
    let n = &net.nodes[index];
    let bridge = Bridge::start(
        n.key.clone(),
        n.transport.clone(),
        n.assembly.network.clone(),
    )
    .await
    .expect("the bridge starts");
    api::serve(
        ApiConfig::default(),
        ApiState {
            conductor: n.conductor.clone(),
            events: api::node_events(net.subscribe(), index),
            totals: None,
            submit: None,
            bridge: Some(bridge),
            results: None,
        },
    )
    .expect("the API serves")
}

/// `POST /send` on `from` until the peer is reachable (the registry is read at start).
async fn send_until_ok(from: SocketAddr, to: &str, body: &str) -> Resp {
    let mut last = None;
    for _ in 0..100 {
        let r = send(from, "POST", "/send", &[(DESTINATION_HEADER, to)], body).await;
        if r.status == 200 {
            return r;
        }
        last = Some((r.status, r.body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("POST /send never succeeded: {last:?}");
}

/// `GET /recv` on `at` until a message is there.
async fn recv_one(at: SocketAddr) -> Resp {
    for _ in 0..100 {
        let r = get(at, "/recv").await;
        if r.status != 204 {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no message arrived at {at}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axl_bridge_carries_messages_both_ways_and_refuses_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = Plan::standard(dir.path(), None);
    (plan.trainers, plan.verifiers, plan.arbiters, plan.committee) = (1, 0, 1, 1);
    let net = Arc::new(Devnet::start(&plan).await.expect("devnet starts"));
    // trainer-1 and arbiter-1: both registered, so each learns the other's endpoint
    let (ia, ib) = (1, 2);
    let (ha, hb) = (serve_bridged(&net, ia).await, serve_bridged(&net, ib).await);
    let (a, b) = (ha.addr(), hb.addr());
    let (ida, idb) = (net.nodes[ia].node.to_hex(), net.nodes[ib].node.to_hex());

    // topology: this node and the other as a peer
    let mut topo = Value::Null;
    for _ in 0..100 {
        topo = get(a, "/topology").await.json();
        let listed = topo["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["public_key"] == idb.as_str()));
        if listed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(topo["our_public_key"], ida.as_str(), "{topo}");
    assert!(
        topo["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["public_key"] == idb.as_str())),
        "{topo}"
    );
    assert_eq!(topo["inbox"]["capacity"], APP_INBOX_CAPACITY, "{topo}");

    // empty → 204
    let empty = get(b, "/recv").await;
    assert_eq!(empty.status, 204, "{}", empty.body);

    // A → B
    let sent = send_until_ok(a, &idb, "hello from A").await;
    assert!(sent.head.contains("x-sent-bytes: 12"), "{}", sent.head);
    assert_eq!(sent.json()["sent_bytes"], 12);
    let got = recv_one(b).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, "hello from A");
    assert!(
        got.head.contains(&format!("x-from-peer-id: {ida}")),
        "{}",
        got.head
    );
    assert_eq!(get(b, "/recv").await.status, 204, "taken once");
    // B → A
    send_until_ok(b, &ida, "and back from B").await;
    let got = recv_one(a).await;
    assert_eq!(got.body, "and back from B");
    assert!(
        got.head.contains(&format!("x-from-peer-id: {idb}")),
        "{}",
        got.head
    );

    // bad input: 4xx JSON naming the problem
    send(a, "POST", "/send", &[], "x")
        .await
        .error(400, DESTINATION_HEADER);
    send(a, "POST", "/send", &[(DESTINATION_HEADER, "xyz")], "x")
        .await
        .error(400, "node id");
    send(a, "POST", "/send", &[(DESTINATION_HEADER, &ida)], "x")
        .await
        .error(400, "own id");
    let nobody = "11".repeat(32);
    send(a, "POST", "/send", &[(DESTINATION_HEADER, &nobody)], "x")
        .await
        .error(502, "not reachable");
    let huge = "a".repeat(MAX_APP_BYTES as usize + 1);
    send(a, "POST", "/send", &[(DESTINATION_HEADER, &idb)], &huge)
        .await
        .error(413, "larger");
    request(a, "GET", "/send", &[]).await.error(405, "GET");
    request(a, "POST", "/recv", &[]).await.error(405, "POST");

    // the inbox is bounded: past its capacity, messages are refused (the sender is told) and
    // counted
    for i in 0..APP_INBOX_CAPACITY {
        send_until_ok(a, &idb, &format!("m{i}")).await;
    }
    let extra = 3;
    for _ in 0..extra {
        send(
            a,
            "POST",
            "/send",
            &[(DESTINATION_HEADER, &idb)],
            "one too many",
        )
        .await
        .error(502, "full");
    }
    let inbox = get(b, "/topology").await.json()["inbox"].clone();
    assert_eq!(inbox["queued"], APP_INBOX_CAPACITY, "{inbox}");
    assert_eq!(inbox["refused_full"], extra, "{inbox}");
    // the oldest stays first
    assert_eq!(recv_one(b).await.body, "m0");

    // a node without a bridge answers 404 JSON
    let (conductor, _h) = Actor::spawn(None, Silent, ()).await.expect("spawn");
    let plain = api::serve(ApiConfig::default(), silent_state(conductor.clone())).expect("serves");
    get(plain.addr(), "/recv").await.error(404, "bridge");
    plain.stop().await;
    conductor.stop(None);
    ha.stop().await;
    hb.stop().await;
}
