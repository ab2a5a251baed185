//! Training throughput of the wine MLP (11-64-64-1, Adam) at batch sizes 16 to 256, in examples/s,
//! measured the way the trainer runs: batches from the seeded stream, one optimizer step each.
//! Run: `cargo bench --bench throughput` (add `-- --examples N` to change the work per size).
//! Prints a table; each row's ratio is against batch 64 in the same run.

use std::path::Path;
use std::time::Instant;

use dfdx::tensor::Cpu;
use tune::data::Stream;
use tune::model::{layer_sizes, Mlp, Net, Optimizer};
use tune::plan::{Overrides, StudyPlan};
use tune::seed::{self, Purpose};
use tune::space::{Params, Value};

fn throughput(plan: &StudyPlan, batch: usize, examples: u64) -> f64 {
    let data = &*plan.dataset;
    let params: Params = [
        ("batch_size".to_string(), Value::Int(batch as i64)),
        ("learning_rate".to_string(), Value::Float(1e-3)),
    ]
    .into();
    let dev = Cpu::default();
    let sizes = layer_sizes(&plan.model, &params, data.n_inputs(), data.n_outputs());
    let mlp = Mlp::init(&dev, &sizes, &mut seed::rng(0, Purpose::Init, 0, 0));
    let opt = Optimizer::new(&plan.model, &params, &mlp).unwrap();
    let mut net = Net::new(dev, mlp, opt, data.task).unwrap();
    let mut stream = Stream::at(0, 0, data.train.rows, 0, 0);
    let (mut idx, mut x, mut y) = (vec![], vec![], vec![]);
    let steps = examples / batch as u64;
    let t0 = Instant::now();
    for _ in 0..steps {
        stream.next_rows(batch, &mut idx);
        data.fill(&data.train, idx.iter().copied(), &mut x, &mut y);
        net.train_step(std::mem::take(&mut x), std::mem::take(&mut y), batch)
            .unwrap();
    }
    (steps * batch as u64) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let examples: u64 = args
        .iter()
        .position(|a| a == "--examples")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(256_000);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/wine.json");
    let plan = StudyPlan::load(&spec, &Overrides::default()).expect("studies/wine.json loads");
    // One thread per trial, as in a study with parallel = cores.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let sizes = [16, 32, 64, 128, 256];
    pool.install(|| throughput(&plan, 64, examples / 4)); // warm-up
    let results: Vec<(usize, f64)> = sizes
        .iter()
        .map(|&b| (b, pool.install(|| throughput(&plan, b, examples))))
        .collect();
    let base = results.iter().find(|r| r.0 == 64).unwrap().1;
    println!(
        "wine MLP {:?}, Adam, 1 thread, {examples} examples per size",
        layer_sizes(&plan.model, &Params::new(), 11, 1)
    );
    println!(
        "{:>6}  {:>12}  {:>10}  {:>12}",
        "batch", "examples/s", "steps/s", "vs batch 64"
    );
    for (b, eps) in results {
        println!(
            "{b:>6}  {eps:>12.0}  {:>10.0}  {:>12.2}",
            eps / b as f64,
            eps / base
        );
    }
}
