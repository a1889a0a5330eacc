//! The run: each measurement the plan asks for, in order (the ingest levels, the storage
//! floors, the open loop, the read path), on a fresh database and a fresh server each,
//! with the checks that make a run fail; the results written as they come.

use std::{
    collections::HashSet,
    process::ExitCode,
    time::{Duration, Instant},
};

use crate::{
    BenchError, floor, forwarding, host,
    load::{self, Rate, Window},
    plan::{FLOOR_IN_FLIGHT, Plan, redact},
    probes, report,
    results::{Export, Level, OpenLoop, Read, Results, Startup},
    seed,
    server::{self, Backend, FreshDatabase, Server},
    stats::{self, Latency},
};

pub(crate) fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// CPU cores used by the server, the benchmark and the rest during `window`.
async fn cpu_during(server: u32, window: Window) -> Option<(f64, f64, f64)> {
    let (before, after) = server::CpuSample::over(server, window).await?;
    Some(before.cores_until(&after, window.length().as_secs_f64()))
}

/// One backend at one connection count, on a fresh database and a fresh server.
async fn run_level(plan: &Plan, backend: Backend, connections: usize) -> Result<Level, BenchError> {
    let database = FreshDatabase::create(backend, plan.server_url(backend)).await?;
    let name = format!("{}-{connections}", backend.name());
    let (mut server, start_to_ready) = Server::start(&plan.launch, &database.url, &name).await?;
    let window = Window::after_warmup(plan.warmup, plan.duration);
    let cpu = tokio::spawn(cpu_during(server.pid(), window));
    let load = load::ingest(server.address, &run_id(), connections, window, None).await;
    let (server_cpu_cores, bench_cpu_cores, other_cpu_cores) =
        cpu.await.ok().flatten().unwrap_or_default();
    let peak_rss_mb = server.peak_rss_mb();
    let survived = server.is_running();
    server.stop().await;
    if !survived {
        database.remove().await;
        return Err(BenchError::new(format!(
            "the server died during {name}; its log:\n{}",
            server.log_tail()
        )));
    }
    let distinct: HashSet<&String> = load.created.iter().collect();
    let distinct_created = distinct.len() as u64;
    let created_answers = load.created.len() as u64;
    let stored = if backend.is_durable() {
        Some(server::stored_leads(&database.url).await?)
    } else {
        None
    };
    database.remove().await;
    let transport_errors = load
        .tally
        .errors
        .get("transport error")
        .copied()
        .unwrap_or(0);
    let verified = stored.map(|stored| {
        // A request whose answer was lost in transport may have been stored without
        // being acknowledged: then, and only then, stored may exceed the count.
        let exact = created_answers == distinct_created;
        exact
            && (stored == distinct_created
                || (stored > distinct_created && stored - distinct_created <= transport_errors))
    });
    Ok(Level {
        backend,
        connections,
        seconds: window.length().as_secs_f64(),
        requests_per_s: stats::per_second(load.measured_requests, window.length()),
        accepted_per_s: stats::per_second(load.measured_accepted, window.length()),
        latency: Latency::of(&load.latency),
        tally: load.tally,
        peak_rss_mb,
        server_cpu_cores,
        bench_cpu_cores,
        other_cpu_cores,
        start_to_ready_ms: start_to_ready.as_secs_f64() * 1000.0,
        distinct_created,
        created_answers,
        stored,
        verified,
    })
}

/// The durable backend at 80% of its best throughput (`best`, reached with
/// `best_connections`), open loop, then the ceiling at the same rate.
async fn run_open_loop(
    plan: &Plan,
    backend: Backend,
    best: f64,
    best_connections: usize,
) -> Result<OpenLoop, BenchError> {
    let rate = 0.8 * best;
    let connections = plan.open_loop_connections.unwrap_or(best_connections);
    let mut measured = Vec::new();
    for target in [backend, Backend::Ceiling] {
        let database = FreshDatabase::create(target, plan.server_url(target)).await?;
        let name = format!("{}-open-loop-for-{}", target.name(), backend.name());
        let (mut server, _) = Server::start(&plan.launch, &database.url, &name).await?;
        let window = Window::after_warmup(plan.warmup, plan.duration);
        let load = load::ingest(
            server.address,
            &run_id(),
            connections,
            window,
            Some(Rate(rate)),
        )
        .await;
        let survived = server.is_running();
        server.stop().await;
        database.remove().await;
        if !survived {
            return Err(BenchError::new(format!("the server died during {name}")));
        }
        measured.push(load);
    }
    let ceiling = measured.pop();
    let durable = measured.pop();
    let (Some(durable), Some(ceiling)) = (durable, ceiling) else {
        return Err(BenchError::new("open loop: a run is missing"));
    };
    let window = plan.duration;
    Ok(OpenLoop {
        backend,
        best_requests_per_s: best,
        rate_per_s: rate,
        connections,
        achieved_per_s: stats::per_second(durable.measured_requests, window),
        latency: Latency::of(&durable.latency),
        errors: durable.tally.error_count(),
        ceiling_achieved_per_s: stats::per_second(ceiling.measured_requests, window),
        ceiling_latency: Latency::of(&ceiling.latency),
    })
}

/// What the read path measured on one backend.
struct ReadPath {
    startup: Startup,
    reads: Vec<Read>,
    exports: Vec<Export>,
}

/// Seeds a database with `plan.read_leads` leads, measures start-up on it, then the
/// read-path probes and the export.
async fn run_read_path(plan: &Plan, backend: Backend) -> Result<ReadPath, BenchError> {
    let database = FreshDatabase::create(backend, plan.server_url(backend)).await?;
    eprintln!(
        "  {}: generating {} leads through the storage library",
        backend.label(),
        plan.read_leads
    );
    let seeded = match seed::seed(&database.url, plan.read_leads).await {
        Ok(took) => took,
        Err(error) => {
            database.remove().await;
            return Err(error);
        }
    };
    let result = measure_existing(plan, backend, &database.url, seeded).await;
    if plan.keep_read_database {
        eprintln!(
            "  {}: the generated database is kept: {}",
            backend.label(),
            redact(&database.keep())
        );
    } else {
        database.remove().await;
    }
    result
}

async fn measure_existing(
    plan: &Plan,
    backend: Backend,
    url: &str,
    seeded: Duration,
) -> Result<ReadPath, BenchError> {
    seed::console_user(url).await?;
    let mut starts = Vec::new();
    let mut server = None;
    for sample in 0..plan.startup_samples {
        let name = format!("{}-existing-{sample}", backend.name());
        let (mut started, took) = Server::start(&plan.launch, url, &name).await?;
        starts.push(took);
        if sample + 1 < plan.startup_samples {
            started.stop().await;
        } else {
            server = Some(started);
        }
    }
    let (median_ms, max_ms) = stats::median_and_max_ms(&starts);
    let startup = Startup {
        backend,
        leads_in_database: plan.read_leads,
        samples: starts.len(),
        median_ms,
        max_ms,
    };
    eprintln!("{}", report::startup_line(&startup));
    let Some(mut server) = server else {
        return Err(BenchError::new("no server for the read path"));
    };
    let setting = probes::Setting {
        warmup: plan.warmup,
        duration: plan.duration,
        min_samples: plan.read_samples,
        connections: plan.read_connections.clone(),
        export_limit: plan.export_limit,
    };
    let database = probes::Database {
        backend,
        seeded: seed::Seeded {
            total: plan.read_leads,
        },
        seed_seconds: seeded.as_secs_f64(),
    };
    let measured = probes::measure(&server, database, &setting).await;
    let exit = server.exit();
    server.stop().await;
    if let Some(exit) = exit {
        return Err(BenchError::new(format!(
            "the server died ({exit}) during the read path on {}; its log:\n{}",
            backend.label(),
            server.log_tail()
        )));
    }
    let (reads, exports) = measured?;
    Ok(ReadPath {
        startup,
        reads,
        exports,
    })
}

/// The read path's failed checks: probes with errors, exports with a wrong body.
fn read_failures(path: &ReadPath) -> Vec<String> {
    let reads = path
        .reads
        .iter()
        .filter(|read| read.errors > 0)
        .map(|read| {
            format!(
                "read path on {}, {} at {} connection(s): {} errors ({})",
                read.backend.label(),
                read.probe,
                read.connections,
                read.errors,
                read.error_kinds
                    .iter()
                    .map(|(what, n)| format!("{n} {what}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    let exports = path.exports.iter().filter_map(|export| {
        export.problem.as_ref().map(|problem| {
            format!(
                "read path on {}, export as {}: {problem}",
                export.backend.label(),
                export.format
            )
        })
    });
    reads.chain(exports).collect()
}

/// Runs every measurement of `plan`, prints and writes the results; success when every
/// check passed.
pub async fn run(plan: &Plan) -> ExitCode {
    let started = Instant::now();
    let mut results = Results {
        started_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        commit: host::commit(),
        command: plan.command.clone(),
        smoke: plan.smoke,
        seconds_per_level: plan.duration.as_secs_f64(),
        server_env: plan
            .launch
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        machine: host::machine(plan).await,
        levels: Vec::new(),
        floors: Vec::new(),
        open_loop: Vec::new(),
        startup: Vec::new(),
        read: Vec::new(),
        exports: Vec::new(),
        forwarding: Vec::new(),
        failures: Vec::new(),
        total_seconds: 0.0,
    };
    eprintln!(
        "lead-inbox-bench: {} s per level after {} s of warm-up; scenarios: {}; {}",
        plan.duration.as_secs_f64(),
        plan.warmup.as_secs_f64(),
        plan.backends
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", "),
        if plan.ingest {
            format!("connections: {:?}", plan.connections)
        } else {
            "no ingest".to_owned()
        }
    );
    for &backend in plan.backends.iter().filter(|_| plan.ingest) {
        for &connections in &plan.connections {
            match run_level(plan, backend, connections).await {
                Ok(level) => {
                    eprintln!("{}", report::level_line(&level));
                    if level.verified == Some(false) {
                        results.failures.push(format!(
                            "{} at {connections} connections: stored {:?} leads, acknowledged {} distinct references `created` ({} created answers)",
                            backend.label(),
                            level.stored,
                            level.distinct_created,
                            level.created_answers
                        ));
                    }
                    if level.tally.created + level.tally.duplicate == 0 {
                        results.failures.push(format!(
                            "{} at {connections} connections: no lead was accepted",
                            backend.label()
                        ));
                    }
                    results.levels.push(level);
                }
                Err(error) => {
                    eprintln!("  {} at {connections}: FAILED: {error}", backend.label());
                    results.failures.push(format!(
                        "{} at {connections} connections: {error}",
                        backend.label()
                    ));
                }
            }
        }
    }
    for &backend in plan
        .backends
        .iter()
        .filter(|b| plan.ingest && b.is_durable())
    {
        match floor::measure(
            backend,
            plan.server_url(backend),
            FLOOR_IN_FLIGHT,
            plan.warmup,
            plan.duration,
        )
        .await
        {
            Ok(floors) => {
                for floor in floors {
                    eprintln!("{}", report::floor_line(&floor));
                    if !floor.verified {
                        results.failures.push(format!(
                            "{} storage floor ({} writers): stored {} leads, {} answered `created`",
                            backend.label(),
                            floor.writers,
                            floor.stored,
                            floor.created
                        ));
                    }
                    results.floors.push(floor);
                }
            }
            Err(error) => {
                eprintln!("  {} storage floor: FAILED: {error}", backend.label());
                results
                    .failures
                    .push(format!("{} storage floor: {error}", backend.label()));
            }
        }
    }
    if plan.open_loop {
        for &backend in plan.backends.iter().filter(|b| b.is_durable()) {
            let Some(best) = results
                .levels
                .iter()
                .filter(|level| level.backend == backend && level.requests_per_s > 0.0)
                .max_by(|a, b| a.requests_per_s.total_cmp(&b.requests_per_s))
            else {
                continue;
            };
            match run_open_loop(plan, backend, best.requests_per_s, best.connections).await {
                Ok(open) => {
                    eprintln!("{}", report::open_loop_line(&open));
                    results.open_loop.push(open);
                }
                Err(error) => {
                    eprintln!("  open loop on {}: FAILED: {error}", backend.label());
                    results
                        .failures
                        .push(format!("open loop on {}: {error}", backend.label()));
                }
            }
        }
    }
    if plan.forwarding {
        // The issue asks for SQLite and PostgreSQL.
        for &backend in plan
            .backends
            .iter()
            .filter(|b| matches!(b, Backend::Sqlite | Backend::Postgres))
        {
            let connections = results
                .levels
                .iter()
                .filter(|level| level.backend == backend && level.requests_per_s > 0.0)
                .max_by(|a, b| a.requests_per_s.total_cmp(&b.requests_per_s))
                .map_or(8, |best| best.connections);
            match forwarding::measure(plan, backend, connections).await {
                Ok(measured) => {
                    eprintln!("{}", report::forwarding_line(&measured));
                    if measured.missing > 0 {
                        results.failures.push(format!(
                            "forwarding on {}: {} acknowledged leads never reached the destination",
                            backend.label(),
                            measured.missing
                        ));
                    }
                    results.forwarding.push(measured);
                }
                Err(error) => {
                    eprintln!("  forwarding on {}: FAILED: {error}", backend.label());
                    results
                        .failures
                        .push(format!("forwarding on {}: {error}", backend.label()));
                }
            }
        }
    }
    if plan.read {
        for &backend in plan.backends.iter().filter(|b| b.is_durable()) {
            match run_read_path(plan, backend).await {
                Ok(path) => {
                    results.failures.extend(read_failures(&path));
                    results.startup.push(path.startup);
                    results.read.extend(path.reads);
                    results.exports.extend(path.exports);
                }
                Err(error) => {
                    eprintln!("  read path on {}: FAILED: {error}", backend.label());
                    results
                        .failures
                        .push(format!("read path on {}: {error}", backend.label()));
                }
            }
            // What is measured so far, in case the run is stopped before the end (a
            // read path can take many minutes per database).
            results.total_seconds = started.elapsed().as_secs_f64();
            if let Err(error) = report::write(&plan.out, &results, &report::markdown(&results)) {
                eprintln!("lead-inbox-bench: cannot write the results so far: {error}");
            }
        }
    }
    results.total_seconds = started.elapsed().as_secs_f64();
    let markdown = report::markdown(&results);
    println!("\n{markdown}");
    if let Err(error) = report::write(&plan.out, &results, &markdown) {
        eprintln!("lead-inbox-bench: cannot write the results: {error}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "lead-inbox-bench: results in {} ({:.0} s in all)",
        plan.out.display(),
        results.total_seconds
    );
    if results.failures.is_empty() {
        eprintln!("lead-inbox-bench: every check passed");
        ExitCode::SUCCESS
    } else {
        for failure in &results.failures {
            eprintln!("lead-inbox-bench: FAILED: {failure}");
        }
        ExitCode::FAILURE
    }
}
