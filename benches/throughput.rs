//! Training throughput (examples/s) of our trainer's inner loop: batches from the seeded stream, one
//! Adam step each (the step reads its loss back, as a study's does).
//!
//! `cargo bench --bench throughput` prints the wine MLP (11-64-64-1) at batch sizes 16 to 256, one
//! thread (as in a study with parallel = cores).
//! `cargo bench --bench throughput -- --grid` prints MLPs 11-w-w-1 for w in 32, 128, 512 at batch sizes
//! 16, 64, 256, 1024, as `width batch examples_per_s` lines; `benches/throughput.sh` runs that beside
//! PyTorch (benches/peers/torch_throughput.py) and prints the ratios.
//! Options for the grid: `--only W,B` (one cell), `--widths 512 --batches 64,1024,8192`, `--threads N`,
//! `--data CSV --target COLUMN` (a regression data set instead of wine), `--device cpu|cuda|cuda:N`
//! (CUDA in a build with `--features cuda`; benches/cuda/gpu.sh runs it on a GPU machine).
//! `--peak`: what one core can do at best: GFLOP/s of fused multiply-adds from registers and of
//! matrixmultiply's product at 1024³, and the training FLOPs of an example of MLP 11-w-w-1, as
//! `peak fma GFLOPS`, `peak sgemm GFLOPS` and `flops W FLOPS` lines (benches/throughput.sh prints
//! the examples/s each rate would allow).

use std::path::{Path, PathBuf};
use std::time::Instant;

use tune::data::{Batches, Stream};
use tune::plan::{Overrides, StudyPlan};
use tune::runner::mlp::model::{Backend, Mlp, Net, Optimizer};
use tune::runner::mlp::params::MlpParams;
use tune::runner::mlp::settings::{self, ModelPlan};
use tune::seed::{self, Purpose};
use tune::space::{Params, Value};

fn throughput<D: Backend>(
    dev: D,
    plan: &StudyPlan,
    model: &ModelPlan,
    batch: usize,
    seconds: f64,
) -> f64 {
    let data = &**plan.data();
    let params: Params = [
        ("batch_size".to_string(), Value::Int(batch as i64)),
        ("learning_rate".to_string(), Value::Float(1e-3)),
    ]
    .into();
    let params = MlpParams::of(model, &params);
    let sizes = params.layer_sizes(model, data.n_inputs(), data.n_outputs());
    let mlp = Mlp::init(&dev, &sizes, &mut seed::rng(0, Purpose::Init, 0, 0));
    let opt = Optimizer::new(model, &params, &mlp).unwrap();
    let mut net = Net::new(dev, mlp, opt, data.task).unwrap();
    let mut batches = Batches::new(data, Stream::at(0, 0, data.train.rows, 0, 0));
    let mut step = |net: &mut Net<D>| {
        let (x, y) = batches.next(data, batch);
        net.train_step(x, y, batch).unwrap();
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

fn list(args: &[String], name: &str, default: &[usize]) -> Vec<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|s| {
            s.split(',')
                .map(|v| v.trim().parse().expect(name))
                .collect()
        })
        .unwrap_or_else(|| default.to_vec())
}

fn value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// The plan whose data the bench trains on: wine, or `--data CSV --target COLUMN` (regression).
fn plan(args: &[String]) -> (StudyPlan, Option<PathBuf>) {
    let wine = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/wine.json");
    let Some(data) = value(args, "--data") else {
        let plan = StudyPlan::load(
            &wine,
            &Overrides::default(),
            &tune::runner::mlp::params::FAMILY,
        )
        .expect("studies/wine.json loads");
        return (plan, None);
    };
    let data = std::fs::canonicalize(data).expect("--data names a file");
    let target = value(args, "--target").expect("--data needs --target COLUMN");
    let dir = std::env::temp_dir().join(format!("tune-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = serde_json::json!({
        "name": "throughput",
        "data": { "path": data, "target": target, "task": "regression", "validation_fraction": 0.2 },
        "model": { "hidden": [64, 64], "optimizer": "adam" },
        "budget": { "stop_point": 1, "virtual_epochs": 1 },
        "search": { "method": "random", "trials": 1,
                    "space": { "batch_size": [64], "learning_rate": [0.001] } }
    });
    let file = dir.join("spec.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    let plan = StudyPlan::load(
        &file,
        &Overrides::default(),
        &tune::runner::mlp::params::FAMILY,
    )
    .expect("the data set loads");
    (plan, Some(dir))
}

/// Multiply-add FLOP of training one example of MLP `inputs`-w-w-1: forward, then backward for
/// every weight and for the inputs of every layer but the first.
fn training_flops(inputs: usize, w: usize) -> f64 {
    let layers = [(inputs, w), (w, w), (w, 1)];
    let forward: usize = layers.iter().map(|(i, o)| i * o).sum();
    let input_grads: usize = layers[1..].iter().map(|(i, o)| i * o).sum();
    2.0 * (2 * forward + input_grads) as f64
}

/// GFLOP/s of AVX2 fused multiply-adds from registers on this thread (12 independent chains, so
/// neither latency nor memory bounds them): the core's arithmetic ceiling.
#[cfg(target_arch = "x86_64")]
fn fma_peak(seconds: f64) -> Option<f64> {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run(n: u64) -> f32 {
        let mut acc = [_mm256_set1_ps(0.0); 12];
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..n {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut out = [0.0f32; 8];
        let sum = acc
            .iter()
            .fold(_mm256_set1_ps(0.0), |s, &x| _mm256_add_ps(s, x));
        _mm256_storeu_ps(out.as_mut_ptr(), sum);
        out.iter().sum()
    }
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return None;
    }
    let n = 10_000_000u64;
    let t0 = Instant::now();
    let mut reps = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        // SAFETY: AVX2 and FMA are there.
        std::hint::black_box(unsafe { run(std::hint::black_box(n)) });
        reps += 1;
    }
    Some((reps * n * 12 * 8 * 2) as f64 / t0.elapsed().as_secs_f64() / 1e9)
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_peak(_seconds: f64) -> Option<f64> {
    None
}

/// GFLOP/s of matrixmultiply's sgemm (the kernel under tune's products) at 1024×1024×1024.
fn sgemm_rate(seconds: f64) -> f64 {
    let n = 1024;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 13) as f32 * 0.1).collect();
    let b = a.clone();
    let mut c = vec![0.0f32; n * n];
    let t0 = Instant::now();
    let mut reps = 0u64;
    while reps == 0 || t0.elapsed().as_secs_f64() < seconds {
        // SAFETY: the pointers and strides describe the three n×n row-major matrices.
        unsafe {
            matrixmultiply::sgemm(
                n,
                n,
                n,
                1.0,
                a.as_ptr(),
                n as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        };
        reps += 1;
    }
    std::hint::black_box(&c);
    (reps as f64 * 2.0 * (n * n * n) as f64) / t0.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--peak") {
        let seconds: f64 = value(&args, "--seconds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1.0);
        if let Some(g) = fma_peak(seconds) {
            println!("peak fma {g:.1}");
        }
        println!("peak sgemm {:.1}", sgemm_rate(seconds));
        for w in list(&args, "--widths", &[32, 128, 512]) {
            println!("flops {w} {:.0}", training_flops(11, w));
        }
        return;
    }
    let seconds: f64 = value(&args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let (plan, tmp) = plan(&args);
    let threads = list(&args, "--threads", &[1])[0];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    // `--only W,B`: one cell of the grid (for profiling).
    let only: Option<(usize, usize)> = value(&args, "--only")
        .and_then(|s| s.split_once(','))
        .and_then(|(w, b)| Some((w.parse().ok()?, b.parse().ok()?)));
    let device = value(&args, "--device").unwrap_or("cpu");
    let grid = args.iter().any(|a| a == "--grid")
        || only.is_some()
        || value(&args, "--widths").is_some()
        || value(&args, "--data").is_some();
    if grid {
        let (widths, batches) = match only {
            Some((w, b)) => (vec![w], vec![b]),
            None => (
                list(&args, "--widths", &[32, 128, 512]),
                list(&args, "--batches", &[16, 64, 256, 1024]),
            ),
        };
        for &width in &widths {
            let model = ModelPlan {
                hidden: vec![width, width],
                ..settings::of(&plan).clone()
            };
            for &batch in &batches {
                let eps = pool.install(|| run_on(device, &plan, &model, batch, seconds));
                println!("{width} {batch} {eps:.0}");
            }
        }
        if let Some(dir) = tmp {
            let _ = std::fs::remove_dir_all(dir);
        }
        return;
    }
    let results: Vec<(usize, f64)> = [16, 32, 64, 128, 256]
        .iter()
        .map(|&b| {
            (
                b,
                pool.install(|| run_on(device, &plan, settings::of(&plan), b, seconds)),
            )
        })
        .collect();
    let base = results.iter().find(|r| r.0 == 64).unwrap().1;
    println!("wine MLP 11-64-64-1, Adam, {threads} thread(s), {seconds} s per size");
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

/// Throughput on `device` ("cpu", "cuda" or "cuda:N"), building the device inside this thread.
fn run_on(device: &str, plan: &StudyPlan, model: &ModelPlan, batch: usize, seconds: f64) -> f64 {
    match device {
        "cpu" => throughput(dfdx::tensor::Cpu::default(), plan, model, batch, seconds),
        #[cfg(feature = "cuda")]
        d if d.starts_with("cuda") => {
            let i = d
                .strip_prefix("cuda:")
                .map_or(0, |n| n.parse().expect("cuda:N"));
            let dev = dfdx::tensor::Cuda::try_build(i, 0).expect("a CUDA device");
            throughput(dev, plan, model, batch, seconds)
        }
        d => panic!("--device {d}: this build has cpu only (build with --features cuda)"),
    }
}
