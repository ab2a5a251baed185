//! MLflow's REST API (2.0) as the tracker uses it: JSON requests to a tracking server over plain
//! HTTP, each answered, failed as a server down (worth a later try) or refused (not).

use std::time::Duration;

use serde_json::Value;

use super::Failure;

/// How long one request may take: a server that hangs counts as down, and the study's end is
/// never held longer than this past its flush.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A tracking server.
pub struct Api {
    agent: ureq::Agent,
    /// `http://host:port`, no slash at the end.
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build();
        Api {
            agent: ureq::Agent::new_with_config(config),
            base: base.to_string(),
        }
    }

    /// POSTs `body` to `/api/2.0/mlflow/<path>`; the answer's JSON.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let answer = self.agent.post(&url).send_json(body);
        read(path, answer).and_then(|(status, v)| ok(path, status, v))
    }

    /// GETs `/api/2.0/mlflow/<path>` with `query`: the status and the answer's JSON (a 404 is
    /// an answer here: the caller may expect it).
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<(u16, Value), Failure> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let mut req = self.agent.get(&url);
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        read(path, req.call())
    }

    /// PUTs `bytes` as the artifact at `path` of a run whose artifact URI is
    /// `mlflow-artifacts:/...` (a server that serves artifacts, MLflow 2's default); `Refused`
    /// for any other store, which this client cannot write to.
    pub fn put_artifact(
        &self,
        artifact_uri: &str,
        path: &str,
        bytes: &[u8],
    ) -> Result<(), Failure> {
        let Some(rest) = artifact_uri.strip_prefix("mlflow-artifacts:") else {
            return Err(Failure::Refused(format!(
                "the run's artifacts go to {artifact_uri}, which only the server's own machine can write: start the server with --serve-artifacts"
            )));
        };
        // `mlflow-artifacts:/1/abc/artifacts`, or with a host: `mlflow-artifacts://h:p/1/...`.
        let rest = match rest.strip_prefix("//") {
            Some(r) => r.split_once('/').map_or("", |(_, p)| p),
            None => rest.trim_start_matches('/'),
        };
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{rest}/{path}",
            self.base
        );
        let answer = self
            .agent
            .put(&url)
            .header("Content-Type", "application/octet-stream")
            .send(bytes);
        read("artifacts", answer).and_then(|(status, v)| ok("artifacts", status, v).map(|_| ()))
    }
}

/// The status and JSON of an answer (empty JSON when its body is not JSON).
fn read(
    path: &str,
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, Value), Failure> {
    let mut answer = answer.map_err(|e| Failure::Down(format!("cannot reach the server ({e})")))?;
    let status = answer.status().as_u16();
    let text = answer
        .body_mut()
        .read_to_string()
        .map_err(|e| Failure::Down(format!("{path}: the answer was cut off ({e})")))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// The answer when it is a success; a server error counts as the server down.
fn ok(path: &str, status: u16, v: Value) -> Result<Value, Failure> {
    let said = || {
        v.get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .chars()
            .take(300)
            .collect::<String>()
    };
    match status {
        200..=299 => Ok(v),
        429 | 500.. => Err(Failure::Down(format!(
            "{path}: the server answered {status} ({})",
            said()
        ))),
        _ => Err(Failure::Refused(format!(
            "{path}: the server refused it with {status} ({})",
            said()
        ))),
    }
}
