//! Training throughput (examples/s) of our trainer's inner loop: batches from the seeded stream, one
//! Adam step each, one thread (as in a study with parallel = cores).
//!
//! `cargo bench --bench throughput` prints the wine MLP (11-64-64-1) at batch sizes 16 to 256.
//! `cargo bench --bench throughput -- --grid` prints MLPs 11-w-w-1 for w in 32, 128, 512 at batch sizes
//! 16, 64, 256, 1024, as `width batch examples_per_s` lines; `benches/throughput.sh` runs that beside
//! PyTorch (benches/peers/torch_throughput.py) and prints the ratios. `--only W,B` runs one cell.

use std::path::Path;
use std::time::Instant;

use dfdx::tensor::Cpu;
use tune::data::Stream;
use tune::model::{layer_sizes, Mlp, Net, Optimizer};
use tune::plan::{ModelPlan, Overrides, StudyPlan};
use tune::seed::{self, Purpose};
use tune::space::{Params, Value};

fn throughput(plan: &StudyPlan, model: &ModelPlan, batch: usize, seconds: f64) -> f64 {
    let data = &*plan.dataset;
    let params: Params = [
        ("batch_size".to_string(), Value::Int(batch as i64)),
        ("learning_rate".to_string(), Value::Float(1e-3)),
    ]
    .into();
    let dev = Cpu::default();
    let sizes = layer_sizes(model, &params, data.n_inputs(), data.n_outputs());
    let mlp = Mlp::init(&dev, &sizes, &mut seed::rng(0, Purpose::Init, 0, 0));
    let opt = Optimizer::new(model, &params, &mlp).unwrap();
    let mut net = Net::new(dev, mlp, opt, data.task).unwrap();
    let mut stream = Stream::at(0, 0, data.train.rows, 0, 0);
    let (mut idx, mut x, mut y) = (vec![], vec![], vec![]);
    let mut step = |net: &mut Net<Cpu>| {
        stream.next_rows(batch, &mut idx);
        data.fill(&data.train, idx.iter().copied(), &mut x, &mut y);
        net.train_step(&x, &y, batch).unwrap();
    };
    for _ in 0..5 {
        step(&mut net);
    }
    let t0 = Instant::now();
    let mut steps = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        for _ in 0..8 {
            step(&mut net);
        }
        steps += 8;
    }
    (steps * batch as u64) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/wine.json");
    let plan = StudyPlan::load(&spec, &Overrides::default()).expect("studies/wine.json loads");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // `--only W,B`: one cell of the grid (for profiling).
    let only: Option<(usize, usize)> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.split_once(','))
        .and_then(|(w, b)| Some((w.parse().ok()?, b.parse().ok()?)));
    if args.iter().any(|a| a == "--grid") || only.is_some() {
        for width in [32, 128, 512] {
            let model = ModelPlan {
                hidden: vec![width, width],
                ..plan.model.clone()
            };
            for batch in [16, 64, 256, 1024] {
                if only.is_some_and(|o| o != (width, batch)) {
                    continue;
                }
                let eps = pool.install(|| throughput(&plan, &model, batch, seconds));
                println!("{width} {batch} {eps:.0}");
            }
        }
        return;
    }
    let results: Vec<(usize, f64)> = [16, 32, 64, 128, 256]
        .iter()
        .map(|&b| {
            (
                b,
                pool.install(|| throughput(&plan, &plan.model, b, seconds)),
            )
        })
        .collect();
    let base = results.iter().find(|r| r.0 == 64).unwrap().1;
    println!("wine MLP 11-64-64-1, Adam, 1 thread, {seconds} s per size");
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
