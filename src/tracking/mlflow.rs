//! MLflow: the study a parent run in its experiment, each trial a child run (tags
//! `mlflow.parentRunId`, `tune.study`, `tune.trial`, `tune.fingerprint`) with its parameters, its
//! metrics at every boundary (`step` = the examples seen, so that trials of any batch size line
//! up), its status and reason; the leaderboard (and with several objectives or constraints
//! `pareto.csv`, and each trial's `tune.pareto_rank` and `tune.feasible` tags) at the study's end.
//!
//! Idempotent and resumable: the parent run's id is kept in the study folder (`mlflow.json`),
//! its children are found by search when the tracker starts, and a trial's metrics are sent only
//! at steps after the last one the server holds (read again after any failed request, which may
//! have been applied all the same).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::rest::Api;
use super::{Failure, Front, Param, Point, Settings, Tracker};

/// Metrics in one `log-batch` (MLflow's limit is 1000); params are limited to 100.
const METRICS_PER_BATCH: usize = 1000;
const PARAMS_PER_BATCH: usize = 100;

/// The MLflow tracker of a study.
pub struct Mlflow {
    api: Api,
    study: String,
    fingerprint: String,
    experiment: String,
    /// The study folder's `mlflow.json`: the server, experiment and parent run of this study.
    state_file: PathBuf,
    checkpoints: bool,
    /// The experiment's id and the parent run, once found or made.
    ids: Option<(String, Run)>,
    runs: BTreeMap<u64, Run>,
    /// Trials whose run may have been made by a request that failed: searched for before another
    /// is made.
    unsure: BTreeSet<u64>,
}

/// A run as the server holds it.
#[derive(Clone, Debug)]
struct Run {
    id: String,
    artifacts: String,
    /// The last step of its metrics; `None` when it has none.
    last_step: Option<u64>,
    status: String,
    has_params: bool,
    /// Its `tune.status` tag, set last of what a trial's status logs.
    tune_status: Option<String>,
    /// Whether `last_step` is known: after a failed request it is read again.
    known: bool,
}

impl Run {
    fn of(run: &Value) -> Run {
        let info = &run["info"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let data = &run["data"];
        let last_step = data["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let step = &m["step"];
                step.as_u64()
                    .or_else(|| step.as_str().and_then(|s| s.parse().ok()))
            })
            .max();
        Run {
            id: text(&info["run_id"]),
            artifacts: text(&info["artifact_uri"]),
            last_step,
            status: text(&info["status"]),
            has_params: data["params"].as_array().is_some_and(|p| !p.is_empty()),
            tune_status: Run::tag(run, "tune.status"),
            known: true,
        }
    }

    fn tag(run: &Value, key: &str) -> Option<String> {
        run["data"]["tags"]
            .as_array()?
            .iter()
            .find(|t| t["key"] == key)
            .and_then(|t| t["value"].as_str())
            .map(str::to_string)
    }
}

fn millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A nonce for a study folder's parent run: the clock, the process and the folder, hashed.
fn new_nonce(state_file: &Path) -> String {
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:08x}{:08x}",
        crc32fast::hash(format!("{clock} {}", std::process::id()).as_bytes()),
        crc32fast::hash(state_file.to_string_lossy().as_bytes())
    )
}

fn tags(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

/// A metric name MLflow accepts (letters, digits, `_ - . / space`): others become `_`.
fn metric_name(name: &str) -> String {
    name.chars()
        .map(|c| match c.is_alphanumeric() || "_-./ ".contains(c) {
            true => c,
            false => '_',
        })
        .collect()
}

/// MLflow's status for a trial's.
fn run_status(status: &str) -> &'static str {
    match status {
        "complete" | "stopped" => "FINISHED",
        "failed" => "FAILED",
        "pruned" => "KILLED",
        _ => "RUNNING",
    }
}

impl Mlflow {
    pub fn new(settings: &Settings, uri: &str, experiment: &str, checkpoints: bool) -> Mlflow {
        Mlflow {
            api: Api::new(uri),
            study: settings.study.clone(),
            fingerprint: settings.fingerprint.clone(),
            experiment: experiment.to_string(),
            state_file: settings.out_dir.join("mlflow.json"),
            checkpoints,
            ids: None,
            runs: BTreeMap::new(),
            unsure: BTreeSet::new(),
        }
    }

    /// The experiment, the parent run and the children the server holds, found (or made) once.
    fn start(&mut self) -> Result<String, Failure> {
        if let Some((exp, _)) = &self.ids {
            return Ok(exp.clone());
        }
        let exp = self.experiment_id()?;
        let state = self.saved_state(&exp);
        let parent = match self.saved_parent(&state)? {
            Some(run) => run,
            None => {
                // A `runs/create` whose answer was lost (a slow server) may have made it anyway:
                // the parent is tagged with a nonce kept in `mlflow.json` before it is made.
                let nonce = match state["nonce"].as_str() {
                    Some(n) => n.to_string(),
                    None => {
                        let n = new_nonce(&self.state_file);
                        self.save_state(&exp, &n, None)?;
                        n
                    }
                };
                let run = match self.found_parent(&exp, &nonce)? {
                    Some(run) => run,
                    None => {
                        let tags = [("tune.role", "study"), ("tune.nonce", nonce.as_str())];
                        self.create(&exp, &self.study.clone(), &tags)?
                    }
                };
                self.save_state(&exp, &nonce, Some(&run.id))?;
                run
            }
        };
        self.search(&exp, &parent.id, None)?;
        self.ids = Some((exp.clone(), parent));
        Ok(exp)
    }

    /// Finds the children of the run `parent` in experiment `exp` (or only trial `trial`'s),
    /// and keeps them.
    fn search(&mut self, exp: &str, parent: &str, trial: Option<u64>) -> Result<(), Failure> {
        let mut filter = format!("tags.`mlflow.parentRunId` = '{parent}'");
        if let Some(t) = trial {
            filter += &format!(" and tags.`tune.trial` = '{t}'");
        }
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"experiment_ids": [exp], "filter": filter, "max_results": 1000});
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let found = self.api.post("runs/search", &body)?;
            for run in found["runs"].as_array().into_iter().flatten() {
                if let Some(trial) = Run::tag(run, "tune.trial").and_then(|t| t.parse().ok()) {
                    self.runs.insert(trial, Run::of(run));
                }
            }
            token = found["next_page_token"].as_str().map(str::to_string);
            if token.as_deref().is_none_or(str::is_empty) {
                return Ok(());
            }
        }
    }

    fn experiment_id(&self) -> Result<String, Failure> {
        let name = [("experiment_name", self.experiment.as_str())];
        let (status, found) = self.api.get("experiments/get-by-name", &name)?;
        if let Some(id) = found["experiment"]["experiment_id"].as_str() {
            return Ok(id.to_string());
        }
        if status != 404 {
            return Err(Failure::Down(format!(
                "experiments/get-by-name: the server answered {status}"
            )));
        }
        let made = self
            .api
            .post("experiments/create", &json!({"name": self.experiment}))?;
        made["experiment_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Failure::Down("experiments/create: no experiment_id".into()))
    }

    /// What `mlflow.json` keeps, when it is of this server and experiment (else null).
    fn saved_state(&self, exp: &str) -> Value {
        let state: Value = std::fs::read_to_string(&self.state_file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        if state["uri"] == self.api.base.as_str() && state["experiment_id"] == exp {
            state
        } else {
            Value::Null
        }
    }

    /// Writes `mlflow.json`: this server and experiment, the parent's nonce, and its id once made.
    fn save_state(&self, exp: &str, nonce: &str, parent: Option<&str>) -> Result<(), Failure> {
        let mut state = json!({"uri": self.api.base, "experiment": self.experiment,
            "experiment_id": exp, "nonce": nonce});
        if let Some(id) = parent {
            state["parent_run_id"] = json!(id);
        }
        save(&self.state_file, &state)
            .map_err(|e| Failure::Refused(format!("{}: {e}", self.state_file.display())))
    }

    /// The parent run `state` (see [`Mlflow::saved_state`]) names, when the server still has it.
    fn saved_parent(&self, state: &Value) -> Result<Option<Run>, Failure> {
        let Some(id) = state["parent_run_id"].as_str() else {
            return Ok(None);
        };
        let (status, found) = self.api.get("runs/get", &[("run_id", id)])?;
        Ok(match status {
            200 => Some(Run::of(&found["run"])),
            _ => None,
        })
    }

    /// The run of experiment `exp` tagged with `nonce`: a parent made by a `runs/create` whose
    /// answer was lost.
    fn found_parent(&self, exp: &str, nonce: &str) -> Result<Option<Run>, Failure> {
        let filter = format!("tags.`tune.nonce` = '{nonce}'");
        let body = json!({"experiment_ids": [exp], "filter": filter, "max_results": 1,
            "order_by": ["attributes.start_time ASC"]});
        let found = self.api.post("runs/search", &body)?;
        Ok(found["runs"]
            .as_array()
            .and_then(|r| r.first())
            .map(Run::of))
    }

    /// Makes a run in experiment `exp` named `name`, with the study's tags and `extra`.
    fn create(&self, exp: &str, name: &str, extra: &[(&str, &str)]) -> Result<Run, Failure> {
        let mut pairs = vec![
            ("tune.study", self.study.as_str()),
            ("tune.fingerprint", self.fingerprint.as_str()),
        ];
        pairs.extend_from_slice(extra);
        let body = json!({"experiment_id": exp, "run_name": name, "start_time": millis(),
            "tags": tags(&pairs)});
        let made = self.api.post("runs/create", &body)?;
        let mut run = Run::of(&made["run"]);
        run.last_step = None;
        Ok(run)
    }

    /// The trial's run, made when the server has none; its last step read again when unknown.
    fn run(&mut self, trial: u64) -> Result<Run, Failure> {
        let exp = self.start()?;
        match self.runs.get(&trial) {
            Some(r) if r.known => return Ok(r.clone()),
            Some(r) => {
                let (_, found) = self.api.get("runs/get", &[("run_id", &r.id)])?;
                let run = Run::of(&found["run"]);
                self.runs.insert(trial, run.clone());
                return Ok(run);
            }
            None => {}
        }
        let parent = self
            .ids
            .as_ref()
            .map(|(_, p)| p.id.clone())
            .unwrap_or_default();
        // A `runs/create` that failed may have made the run all the same (the answer lost).
        if self.unsure.contains(&trial) {
            self.search(&exp, &parent, Some(trial))?;
            self.unsure.remove(&trial);
            if let Some(r) = self.runs.get(&trial) {
                return Ok(r.clone());
            }
        }
        let t = trial.to_string();
        let extra = [
            ("mlflow.parentRunId", parent.as_str()),
            ("tune.trial", t.as_str()),
        ];
        let made = self.create(&exp, &format!("trial-{trial}"), &extra);
        let Ok(run) = made else {
            self.unsure.insert(trial);
            return made;
        };
        self.runs.insert(trial, run.clone());
        Ok(run)
    }

    /// `log-batch` to run `id`; a failure leaves the trial's steps to be read again.
    fn log(&mut self, trial: Option<u64>, id: &str, body: Value) -> Result<(), Failure> {
        let mut body = body;
        body["run_id"] = json!(id);
        let sent = self.api.post("runs/log-batch", &body).map(|_| ());
        if let (Err(_), Some(t)) = (&sent, trial) {
            if let Some(r) = self.runs.get_mut(&t) {
                r.known = false;
            }
        }
        sent
    }

    /// Uploads the file `file` as the artifact `name` of the run with artifact URI `uri`.
    fn upload(&self, uri: &str, name: &str, file: &Path) -> Result<(), Failure> {
        let bytes = std::fs::read(file)
            .map_err(|e| Failure::Refused(format!("{}: {e}", file.display())))?;
        self.api.put_artifact(uri, name, &bytes)
    }
}

/// Writes `state` to `file` whole (a temp file renamed over it).
fn save(file: &Path, state: &Value) -> std::io::Result<()> {
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(state).expect("JSON"))?;
    std::fs::rename(&tmp, file)
}

impl Tracker for Mlflow {
    fn name(&self) -> String {
        format!("MLflow at {}", self.api.base)
    }

    fn trial_started(&mut self, trial: u64, params: &[(String, Param)]) -> Result<(), Failure> {
        let run = self.run(trial)?;
        if run.has_params {
            return Ok(());
        }
        for chunk in params.chunks(PARAMS_PER_BATCH) {
            let params: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v.text()}))
                .collect();
            self.log(None, &run.id, json!({"params": params}))?;
        }
        if let Some(r) = self.runs.get_mut(&trial) {
            r.has_params = true;
        }
        Ok(())
    }

    fn boundaries(&mut self, trial: u64, points: &[Point]) -> Result<(), Failure> {
        let run = self.run(trial)?;
        let new: Vec<&Point> = points
            .iter()
            .filter(|p| run.last_step.is_none_or(|l| p.step > l))
            .collect();
        let at = millis();
        let mut batch: Vec<Value> = vec![];
        for (i, p) in new.iter().enumerate() {
            batch.extend(p.values.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| {
                json!({"key": metric_name(k), "value": v, "timestamp": at, "step": p.step})
            }));
            let next = new.get(i + 1).map_or(0, |q| q.values.len());
            if i + 1 == new.len() || batch.len() + next > METRICS_PER_BATCH {
                self.log(
                    Some(trial),
                    &run.id,
                    json!({"metrics": std::mem::take(&mut batch)}),
                )?;
                if let Some(r) = self.runs.get_mut(&trial) {
                    r.last_step = Some(p.step);
                }
            }
        }
        Ok(())
    }

    fn status(
        &mut self,
        trial: u64,
        status: &str,
        reason: Option<&str>,
        checkpoint: Option<&Path>,
    ) -> Result<(), Failure> {
        let run = self.run(trial)?;
        let to = run_status(status);
        if run.status == to && run.tune_status.as_deref() == Some(status) {
            return Ok(());
        }
        // The checkpoint before the tags: a status tagged is a status fully logged.
        if let (true, Some(file), "FINISHED" | "KILLED") = (self.checkpoints, checkpoint, to) {
            if file.is_file() {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                self.upload(&run.artifacts, &format!("checkpoint/{name}"), file)?;
            }
        }
        let mut pairs = vec![("tune.status", status)];
        pairs.extend(reason.map(|r| ("tune.reason", r)));
        self.log(None, &run.id, json!({"tags": tags(&pairs)}))?;
        if run.status != to {
            let mut body = json!({"run_id": run.id, "status": to});
            if to != "RUNNING" {
                body["end_time"] = json!(millis());
            }
            self.api.post("runs/update", &body)?;
        }
        if let Some(r) = self.runs.get_mut(&trial) {
            r.status = to.to_string();
            r.tune_status = Some(status.to_string());
        }
        Ok(())
    }

    fn study_ended(
        &mut self,
        best: Option<u64>,
        leaderboard: &Path,
        front: Option<&Front>,
    ) -> Result<(), Failure> {
        self.start()?;
        let parent = self.ids.as_ref().map(|(_, p)| p.clone()).expect("started");
        let best = best.map_or(String::new(), |b| b.to_string());
        let trials = self.runs.len().to_string();
        let mut pairs = vec![("tune.trials", trials.as_str())];
        if !best.is_empty() {
            pairs.push(("tune.best_trial", best.as_str()));
        }
        self.log(None, &parent.id, json!({"tags": tags(&pairs)}))?;
        self.table(&parent, "leaderboard", leaderboard)?;
        if let Some(front) = front {
            self.table(&parent, "pareto", &front.file)?;
            self.standings(front)?;
        }
        let body = json!({"run_id": parent.id, "status": "FINISHED", "end_time": millis()});
        self.api.post("runs/update", &body).map(|_| ())
    }
}

impl Mlflow {
    /// Uploads the table `file` as the artifact `{name}.csv` of the run `parent`; where the server
    /// serves no artifacts, as its tag `tune.{name}` (MLflow keeps up to 8000 characters of one).
    fn table(&mut self, parent: &Run, name: &str, file: &Path) -> Result<(), Failure> {
        match self.upload(&parent.artifacts, &format!("{name}.csv"), file) {
            Err(Failure::Refused(_)) => {
                let text: String = std::fs::read_to_string(file)
                    .unwrap_or_default()
                    .chars()
                    .take(5000)
                    .collect();
                let tag = format!("tune.{name}");
                self.log(None, &parent.id, json!({"tags": tags(&[(&tag, &text)])}))
            }
            done => done,
        }
    }

    /// Tags each trial's run with its `tune.pareto_rank` and `tune.feasible` at the study's end
    /// (empty where the leaderboard's cell is: on no front, or no value yet).
    fn standings(&mut self, front: &Front) -> Result<(), Failure> {
        for &(trial, rank, feasible) in &front.trials {
            let run = self.run(trial)?;
            let rank = rank.map_or(String::new(), |r| r.to_string());
            let feasible = feasible.map_or(String::new(), |f| f.to_string());
            let pairs = [
                ("tune.pareto_rank", rank.as_str()),
                ("tune.feasible", &feasible),
            ];
            self.log(None, &run.id, json!({"tags": tags(&pairs)}))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_read_from_the_api_and_names_kept_legal() {
        let run = json!({"info": {"run_id": "r1", "status": "RUNNING",
            "artifact_uri": "mlflow-artifacts:/1/r1/artifacts"},
            "data": {"metrics": [{"key": "a", "step": 90}, {"key": "b", "step": "70"}],
                "tags": [{"key": "tune.trial", "value": "4"}]}});
        let r = Run::of(&run);
        assert_eq!(
            (r.id.as_str(), r.last_step, r.has_params),
            ("r1", Some(90), false)
        );
        assert_eq!(Run::tag(&run, "tune.trial").as_deref(), Some("4"));
        assert_eq!(Run::of(&json!({})).last_step, None);
        assert_eq!(metric_name("val loss/a:b[1]"), "val loss/a_b_1_");
        assert_eq!(run_status("pruned"), "KILLED");
        assert_eq!(run_status("paused"), "RUNNING");
    }
}
