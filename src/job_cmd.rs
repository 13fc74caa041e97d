//! `pinpoint job`: submit and follow jobs through a node's HTTP API (`docs/node.md`, "HTTP
//! API"). A thin client: every command is one or a few requests to the node; the node posts
//! the job as its own account and serves the spec to the trainers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use pinpoint_actors::config::{DEFAULT_API_PORT, PinAmount};
use pinpoint_chain::U256;
use serde_json::{Value, json};

/// Submit a training job to the network and follow it, through a node's HTTP API.
///
/// The node (--node, default the local one) posts the job as its own account: it escrows the
/// payment on chain and serves the spec to the trainers that take the job.
///
/// Examples:
///   pinpoint job submit --spec examples/mlp.toml --wait
///   pinpoint job submit --spec job.toml --replicas 2 --payment 500 --node http://127.0.0.1:7071
///   pinpoint job list
///   pinpoint job status 1
///   pinpoint job status 1 --json
///   pinpoint job result 1 --out weights/ --node http://127.0.0.1:7072
///   PINPOINT_API_TOKEN=s3cret pinpoint job list --node http://203.0.113.7:7071
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct JobArgs {
    /// The node's API.
    #[arg(long, value_name = "URL", global = true, default_value_t = default_node())]
    node: String,
    /// The bearer token of a node whose API needs one [default: $PINPOINT_API_TOKEN].
    #[arg(long, value_name = "TOKEN", global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: JobCommand,
}

fn default_node() -> String {
    format!("http://127.0.0.1:{DEFAULT_API_PORT}")
}

/// `pinpoint job …`.
#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// Post a job (the node's account pays; its store serves the spec).
    Submit(SubmitArgs),
    /// One job: its state, trainers, roots, dispute.
    Status {
        /// The chain's job id.
        id: u64,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every job the node knows of.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a finalized job's final weights from a node that trained it, check them against
    /// that trainer's root on chain, and write them as safetensors.
    Result {
        /// The chain's job id.
        id: u64,
        /// Where `weights.safetensors` and `result.json` go (created).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// `pinpoint job submit`.
#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// The job spec (TOML, as for `pinpoint train`).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// Trainers that run the job (1 to 16).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=16))]
    replicas: u8,
    /// Payment for all trainers, in PIN (e.g. 1000 or 0.5) [default: the node's, 1000].
    #[arg(long, value_name = "PIN", value_parser = parse_pin)]
    payment: Option<U256>,
    /// Each trainer's bond, in PIN [default: the node's, 50].
    #[arg(long, value_name = "PIN", value_parser = parse_pin)]
    bond: Option<U256>,
    /// The challenge window, in chain seconds [default: the node's, 60].
    #[arg(long, value_name = "SECS")]
    window: Option<u64>,
    /// Follow the job with a progress bar until it is finalized (exit 1 if it is cancelled).
    #[arg(long)]
    wait: bool,
    /// With --wait: give up (exit 2) after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    timeout: u64,
}

fn parse_pin(s: &str) -> Result<U256, String> {
    let a = PinAmount::parse(s)?;
    if a.base_units() == 0 {
        return Err("must be more than 0".into());
    }
    Ok(U256::from(a.base_units()))
}

/// A node's API.
struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    fn new(node: &str, token: Option<String>) -> anyhow::Result<Self> {
        let base = node.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            bail!(
                "--node {node}: expected an http:// URL such as {}",
                default_node()
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { base, token, http })
    }

    /// Sends `req`: the JSON answer, or the node's refusal (status, its error message).
    async fn call(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<Result<Value, (reqwest::StatusCode, String)>> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| {
            let why = if e.is_connect() {
                "cannot connect (is the node running, with its API on? see [api] in docs/node.md)"
            } else if e.is_timeout() {
                "no answer in time"
            } else {
                "the request failed"
            };
            anyhow::anyhow!("{what} at {}: {why}: {e}", self.base)
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        if !status.is_success() {
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Ok(Err((status, msg)));
        }
        let v = serde_json::from_str(&text).with_context(|| format!("{what}: not JSON: {text}"))?;
        Ok(Ok(v))
    }

    /// `GET path`; a refusal is an error naming the status and the node's message.
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let what = format!("GET {path}");
        let url = format!("{}{path}", self.base);
        refused(self.call(self.http.get(&url), &what).await?, &what)
    }

    /// `GET path`; `None` for a 404.
    async fn get_found(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let what = format!("GET {path}");
        let url = format!("{}{path}", self.base);
        match self.call(self.http.get(&url), &what).await? {
            Err((reqwest::StatusCode::NOT_FOUND, _)) => Ok(None),
            other => refused(other, &what).map(Some),
        }
    }

    /// `GET path` of raw bytes; a refusal is an error naming the status and the node's message.
    async fn bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let what = format!("GET {path}");
        let url = format!("{}{path}", self.base);
        let mut req = self.http.get(&url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{what} at {}", self.base))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_default();
            bail!("{what}: the node answered {status}: {msg}");
        }
        Ok(body.to_vec())
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let what = format!("POST {path}");
        refused(self.call(req, &what).await?, &what)
    }
}

fn refused(
    answer: Result<Value, (reqwest::StatusCode, String)>,
    what: &str,
) -> anyhow::Result<Value> {
    answer.map_err(|(status, msg)| anyhow::anyhow!("{what}: the node answered {status}: {msg}"))
}

/// Runs the command.
pub(crate) fn run(args: JobArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(job(args))
}

async fn job(args: JobArgs) -> anyhow::Result<ExitCode> {
    let token = args
        .token
        .or_else(|| std::env::var("PINPOINT_API_TOKEN").ok())
        .filter(|t| !t.is_empty());
    let client = Client::new(&args.node, token)?;
    match args.command {
        JobCommand::Submit(s) => submit(&client, s).await,
        JobCommand::Status { id, json } => {
            let j = client.get(&format!("/api/v1/jobs/{id}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else {
                print!("{}", describe(&j));
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Result { id, out } => result(&client, id, &out).await,
        JobCommand::List { json } => {
            let jobs = client.get("/api/v1/jobs").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else {
                print!("{}", table(&jobs));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn hex32(s: &str) -> anyhow::Result<[u8; 32]> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    pinpoint_train::Digest::from_hex(s)
        .map(|d| d.0)
        .with_context(|| format!("{s:?} is not a 32-byte hash (64 hex digits)"))
}

/// `job result`: the trainer's state hashes must give its root on chain, the checkpoint's
/// bytes their hash, and the decoded final state `h(S_T)`; then its parameters are written.
async fn result(client: &Client, id: u64, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let job = client.get(&format!("/api/v1/jobs/{id}")).await?;
    if job["state"] != "finalized" {
        bail!(
            "job {id} is {}, not finalized: its result is not settled yet",
            job["state"].as_str().unwrap_or("?")
        );
    }
    let r = client.get(&format!("/api/v1/jobs/{id}/result")).await?;
    let account = r["account"]
        .as_str()
        .context("the result names no trainer")?;
    let lost = job["lost"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(account)));
    if lost {
        bail!(
            "the node's trainer {account} lost a dispute over job {id}: its result is not the job's"
        );
    }
    let root = job["roots"][account]
        .as_str()
        .with_context(|| format!("trainer {account} has no root on chain for job {id}"))?;
    let hashes: Vec<[u8; 32]> = r["hashes"]
        .as_array()
        .context("the result has no hashes")?
        .iter()
        .map(|h| hex32(h.as_str().unwrap_or("")))
        .collect::<anyhow::Result<_>>()?;
    let computed = pinpoint_protocol::merkle::StepCommitment::new(&hashes)
        .context("the state hashes")?
        .root();
    if computed != hex32(root)? {
        bail!("the node's state hashes of job {id} do not give trainer {account}'s root {root}");
    }
    let step = hashes.len() as u64 - 1;
    let bytes = client
        .bytes(&format!("/api/v1/jobs/{id}/result/checkpoint"))
        .await?;
    let want = r["checkpoint"]["hash"].as_str().unwrap_or("");
    if pinpoint_train::Digest::content(&bytes).to_hex() != want {
        bail!("the checkpoint's bytes do not match their hash {want}");
    }
    let cp = pinpoint_train::checkpoint::decode(&bytes, None).context("the checkpoint")?;
    let state_hash = cp.state.hash().context("hashing the final state")?;
    if cp.state.step != step || state_hash.0 != hashes[hashes.len() - 1] {
        bail!(
            "the checkpoint is not the final state: step {} (T = {step}), h = {}",
            cp.state.step,
            state_hash.to_hex()
        );
    }
    let meta = [
        ("job".to_string(), id.to_string()),
        ("step".to_string(), step.to_string()),
        ("state_hash".to_string(), state_hash.to_hex()),
        ("root".to_string(), root.to_string()),
        ("trainer".to_string(), account.to_string()),
    ];
    let weights = pinpoint_train::safetensors::to_bytes(&cp.state.params, &meta)
        .context("encoding the weights")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("weights.safetensors");
    std::fs::write(&path, &weights).with_context(|| format!("writing {}", path.display()))?;
    let summary = json!({
        "job": id, "step": step, "trainer": account, "root": root,
        "state_hash": state_hash.to_hex(),
        "tensors": cp.state.params.iter().map(|(n, _)| n).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("result.json"),
        serde_json::to_string_pretty(&summary)? + "\n",
    )
    .with_context(|| format!("writing {}", out.join("result.json").display()))?;
    println!(
        "job {id}: h(S_{step}) {} is leaf {step} of trainer {account}'s root {root}",
        state_hash.to_hex()
    );
    println!(
        "wrote {} ({} tensors, {} bytes)",
        path.display(),
        cp.state.params.len(),
        weights.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The `POST /api/v1/jobs` body.
fn body(spec: String, s: &SubmitArgs) -> Value {
    let mut b = json!({ "spec": spec, "replicas": s.replicas });
    if let Some(p) = s.payment {
        b["payment"] = json!(p.to_string());
    }
    if let Some(p) = s.bond {
        b["bond"] = json!(p.to_string());
    }
    if let Some(w) = s.window {
        b["window_secs"] = json!(w);
    }
    b
}

async fn submit(client: &Client, s: SubmitArgs) -> anyhow::Result<ExitCode> {
    let spec = std::fs::read_to_string(&s.spec)
        .with_context(|| format!("reading the spec {}", s.spec.display()))?;
    // The node checks the spec too; checking here first names the file in the error.
    pinpoint_train::LoadedSpec::from_toml_str(&spec)
        .with_context(|| format!("the spec {}", s.spec.display()))?;
    let posted = client.post("/api/v1/jobs", &body(spec, &s)).await?;
    let id = posted["id"]
        .as_u64()
        .with_context(|| format!("the node's answer has no job id: {posted}"))?;
    println!("job {id} posted");
    if !s.wait {
        return Ok(ExitCode::SUCCESS);
    }
    wait(client, id, Duration::from_secs(s.timeout)).await
}

/// How long `--wait` waits for the node to show a job it posted.
const NOT_SEEN_LIMIT: Duration = Duration::from_secs(60);

/// The lifecycle stages a job goes through, for the progress bar.
const STAGES: [&str; 5] = ["open", "assigned", "committed", "disputed", "finalized"];

fn stage(state: &str) -> u64 {
    STAGES.iter().position(|s| *s == state).unwrap_or(0) as u64
}

/// Follows job `id` until it is finalized (0) or cancelled (1); 2 after `timeout`.
async fn wait(client: &Client, id: u64, timeout: Duration) -> anyhow::Result<ExitCode> {
    let bar = indicatif::ProgressBar::new(STAGES.len() as u64 - 1);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} job {prefix} [{elapsed_precise}] {bar:30} {msg}",
        )
        .context("the progress bar's template")?,
    );
    bar.set_prefix(id.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    loop {
        let Some(j) = client.get_found(&format!("/api/v1/jobs/{id}")).await? else {
            // Posted, but the node has not read it back from the chain yet.
            if started.elapsed() > NOT_SEEN_LIMIT {
                bail!(
                    "job {id} was posted but the node does not show it after {} s",
                    NOT_SEEN_LIMIT.as_secs()
                );
            }
            bar.set_message("posted; waiting for the node to read it from the chain");
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let state = j["state"].as_str().unwrap_or("?").to_string();
        bar.set_position(stage(&state));
        bar.set_message(progress_line(&j));
        match state.as_str() {
            "finalized" => {
                bar.finish();
                print!("{}", describe(&j));
                return Ok(ExitCode::SUCCESS);
            }
            "cancelled" => {
                bar.abandon();
                eprintln!(
                    "job {id} was cancelled (not enough trainers accepted in time, or the committee never ruled)"
                );
                return Ok(ExitCode::from(1));
            }
            _ => {}
        }
        if started.elapsed() > timeout {
            bar.abandon();
            eprintln!(
                "job {id} is still {state} after {} s (--timeout)",
                timeout.as_secs()
            );
            return Ok(ExitCode::from(2));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn count(v: &Value) -> usize {
    v.as_array()
        .map(Vec::len)
        .or_else(|| v.as_object().map(|o| o.len()))
        .unwrap_or(0)
}

/// One line of a job's progress: state, trainers, roots, this node's steps, a dispute.
fn progress_line(j: &Value) -> String {
    let mut parts = vec![
        j["state"].as_str().unwrap_or("?").to_string(),
        format!(
            "trainers {}/{}",
            count(&j["trainers"]),
            j["replicas"].as_u64().unwrap_or(0)
        ),
        format!("roots {}", count(&j["roots"])),
    ];
    if let (Some(step), Some(total)) = (
        j["progress"]["step"].as_u64(),
        j["progress"]["total"].as_u64(),
    ) {
        parts.push(format!("this node trained {step}/{total}"));
    }
    if let Some(d) = j["active_dispute"].as_u64() {
        parts.push(format!("dispute #{d}"));
    }
    parts.join(" · ")
}

fn amount(v: &Value) -> String {
    v.as_str()
        .and_then(|s| s.parse::<U256>().ok())
        .map_or_else(|| "?".into(), crate::chain_cmd::pin)
}

/// A job, as `job status` prints it.
fn describe(j: &Value) -> String {
    let mut out = format!("job {}: {}\n", j["id"], j["state"].as_str().unwrap_or("?"));
    let steps = j["steps"]
        .as_u64()
        .map_or_else(|| "?".to_string(), |s| s.to_string());
    out += &format!("  steps       {steps}\n");
    out += &format!("  spec        {}\n", j["spec_hash"].as_str().unwrap_or("?"));
    out += &format!("  submitter   {}\n", j["submitter"].as_str().unwrap_or("?"));
    out += &format!(
        "  payment     {} ({} replicas, bond {} each)\n",
        amount(&j["payment"]),
        j["replicas"],
        amount(&j["bond"])
    );
    let roots = j["roots"].as_object();
    for t in j["trainers"].as_array().into_iter().flatten() {
        let t = t.as_str().unwrap_or("?");
        let root = roots
            .and_then(|r| r.get(t))
            .and_then(Value::as_str)
            .unwrap_or("(no root yet)");
        let lost = j["lost"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(t)));
        out += &format!(
            "  trainer     {t} root {root}{}\n",
            if lost { " (lost a dispute)" } else { "" }
        );
    }
    if let Some(d) = j["active_dispute"].as_u64() {
        out += &format!("  dispute     #{d} (open)\n");
    }
    out
}

/// Jobs, as `job list` prints them.
fn table(jobs: &Value) -> String {
    let list = jobs.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty() {
        return "no jobs\n".into();
    }
    let mut out = format!(
        "{:>5}  {:<10} {:>6} {:>9} {:>6}  {}\n",
        "id", "state", "steps", "trainers", "roots", "payment"
    );
    for j in list {
        out += &format!(
            "{:>5}  {:<10} {:>6} {:>9} {:>6}  {}\n",
            j["id"]
                .as_u64()
                .map_or_else(|| "?".into(), |i| i.to_string()),
            j["state"].as_str().unwrap_or("?"),
            j["steps"]
                .as_u64()
                .map_or_else(|| "?".to_string(), |s| s.to_string()),
            format!(
                "{}/{}",
                count(&j["trainers"]),
                j["replicas"].as_u64().unwrap_or(0)
            ),
            count(&j["roots"]),
            amount(&j["payment"]),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_or_decimal_pin() {
        assert_eq!(parse_pin("2"), Ok(U256::from(2 * pinpoint_chain::PIN)));
        assert_eq!(parse_pin("0.5"), Ok(U256::from(pinpoint_chain::PIN / 2)));
        assert!(parse_pin("0").is_err());
        assert!(parse_pin("x").is_err());
    }

    #[test]
    fn a_job_is_described_with_its_trainers_and_roots() {
        let j = json!({
            "id": 4, "state": "finalized", "steps": 6, "spec_hash": "0xab", "submitter": "0x01",
            "payment": "1000000000000000000000", "bond": "50000000000000000000", "replicas": 2,
            "trainers": ["0xa", "0xb"], "roots": { "0xa": "0xr1" }, "lost": ["0xb"],
            "active_dispute": null,
        });
        let text = describe(&j);
        assert!(text.starts_with("job 4: finalized\n"), "{text}");
        assert!(
            text.contains("1000 PIN (2 replicas, bond 50 PIN each)"),
            "{text}"
        );
        assert!(text.contains("0xa root 0xr1\n"), "{text}");
        assert!(
            text.contains("0xb root (no root yet) (lost a dispute)"),
            "{text}"
        );
        let t = table(&json!([j]));
        assert!(t.contains("finalized"), "{t}");
        assert!(t.contains("2/2"), "{t}");
        assert_eq!(table(&json!([])), "no jobs\n");
        assert_eq!(stage("committed"), 2);
        assert!(progress_line(&json!({"state": "disputed", "trainers": [], "replicas": 3, "roots": {}, "active_dispute": 1})).contains("dispute #1"));
    }
}
