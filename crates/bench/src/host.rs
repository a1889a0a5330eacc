//! Where a run ran: the machine (CPUs, memory, disk, kernel, database servers) and the
//! checkout measured, as the results' header gives them.

use crate::{plan::Plan, results::Machine};

fn first_line(path: &str, prefix: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().and_then(|text| {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
    })
}

async fn server_version(url: Option<&str>) -> Option<String> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(url?).await.ok()?;
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => "SHOW server_version",
                _ => "SELECT VERSION()",
            },
        ))
        .await
        .ok()??;
    // "15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, …" → "15.20 (Debian 15.20-0+deb12u1)".
    let version = row
        .try_get_by_index::<String>(0)
        .ok()
        .map(|v| v.split(" on ").next().unwrap_or_default().to_owned());
    db.close().await.ok();
    version
}

pub async fn machine(plan: &Plan) -> Machine {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_kib: f64 = first_line("/proc/meminfo", "MemTotal")
        .and_then(|text| text.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0);
    let root_device = std::fs::read_to_string("/proc/mounts")
        .ok()
        .and_then(|mounts| {
            mounts.lines().find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields.get(1) == Some(&"/")).then(|| (fields[0].to_owned(), fields[2].to_owned()))
            })
        });
    let disk = match root_device {
        Some((device, fs)) => {
            let name = device.rsplit('/').next().unwrap_or_default().to_owned();
            let rotational = std::fs::read_to_string(format!("/sys/block/{name}/queue/rotational"))
                .map(|r| {
                    if r.trim() == "1" {
                        "reported rotational"
                    } else {
                        "non-rotational"
                    }
                })
                .unwrap_or("unknown type");
            format!("{device} ({fs}, virtual disk, {rotational})")
        }
        None => "unknown".into(),
    };
    Machine {
        cpus,
        cpu_model: first_line("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
        memory_gib: memory_kib / 1024.0 / 1024.0,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        disk,
        postgres_version: server_version(plan.postgres_url.as_deref()).await,
        mariadb_version: server_version(plan.mysql_url.as_deref()).await,
    }
}

/// The commit of the checkout the benchmark runs in, when it is one.
pub fn commit() -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    if !head.status.success() {
        return None;
    }
    let mut commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    if git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.stdout.is_empty())
    {
        commit.push_str("+changes");
    }
    Some(commit)
}
