//! The read path's probes, on a seeded database: the filtered list, the free-text
//! search with a rare and a common term, the first and a deep page of contacts, the
//! stats, and the full export as NDJSON and CSV. Every answer is checked against what
//! the seed wrote ([`Seeded`]): a wrong answer counts as an error, and an error fails
//! the run.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Deserialize;

use crate::{
    BenchError,
    load::{self, Budget, Reader, Window, percent_encode},
    mix::Random,
    results::{Export, Read},
    seed::{COMMON_TERM, CONSOLE_PASSWORD, CONSOLE_USER, ENTITY_TYPES, RARE_TERM, Seeded},
    server::{Backend, CpuSample, Server},
    stats::{self, Latency},
};

/// The list probe's name (the issue's "filtered list of 50" target applies to it).
pub const LIST: &str = "list by entity type";
/// The console inbox probe's name.
pub const INBOX: &str = "console inbox page";
/// Items per page, in every probe.
const PAGE: usize = 50;
/// The deep contacts page: the cursor is followed this many pages in.
const DEEP_PAGE: usize = 10;
/// A probe runs at more connections only when its p99 at one is under this: eight
/// concurrent scans of seconds each would only measure their queueing.
const CHEAP_P99_MS: f64 = 100.0;

/// How the probes run.
#[derive(Debug, Clone)]
pub struct Setting {
    pub warmup: Duration,
    pub duration: Duration,
    /// Measured requests per connection at least, however slow the answers.
    pub min_samples: u64,
    /// Connection counts; the first always, the others when cheap.
    pub connections: Vec<usize>,
    /// The longest an export may take; a slower one is stopped and fails its check.
    pub export_limit: Duration,
}

/// The database the probes run on.
#[derive(Debug, Clone, Copy)]
pub struct Database {
    pub backend: Backend,
    pub seeded: Seeded,
    pub seed_seconds: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeadPage {
    items: Vec<LeadItem>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeadItem {
    lead_reference: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactPage {
    items: Vec<ContactItem>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactItem {
    email: Option<String>,
    lead_count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatsBody {
    total: u64,
    by_entity_type: Vec<EntityTypeCount>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntityTypeCount {
    entity_type: Option<String>,
    count: u64,
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|_| "an unreadable answer".to_owned())
}

/// `GET /api/v1/leads?limit=50&entityType=…` for a random entity type, every other
/// request the next page through the cursor; a page must hold 50 leads.
struct ListReader {
    random: Random,
    /// The entity type asked last, and whether that was a first page.
    asked: (usize, bool),
    cursor: Option<(usize, String)>,
}

impl Reader for ListReader {
    fn next_path(&mut self) -> String {
        let (entity, after) = match self.cursor.take() {
            Some((entity, next)) => (entity, Some(next)),
            None => (self.random.below(ENTITY_TYPES.len() as u64) as usize, None),
        };
        self.asked = (entity, after.is_none());
        let mut path = format!(
            "/api/v1/leads?limit={PAGE}&entityType={}",
            ENTITY_TYPES[entity].0
        );
        if let Some(after) = after {
            path.push_str("&cursor=");
            path.push_str(&percent_encode(&after));
        }
        path
    }

    fn judge(&mut self, body: &[u8]) -> Result<(), String> {
        let page: LeadPage = parse(body)?;
        if page.items.len() != PAGE {
            return Err(format!("a page of {} leads", page.items.len()));
        }
        // A first page is followed by its next page, then a fresh first page.
        let (entity, first) = self.asked;
        if first {
            self.cursor = page.next_cursor.map(|next| (entity, next));
        }
        Ok(())
    }
}

/// What a fixed request's answer must be.
type Check = Arc<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// The same request again and again, each answer checked.
struct Repeat {
    path: String,
    check: Check,
}

impl Reader for Repeat {
    fn next_path(&mut self) -> String {
        self.path.clone()
    }

    fn judge(&mut self, body: &[u8]) -> Result<(), String> {
        (self.check)(body)
    }
}

/// The console's inbox must be its HTML page with `rows` leads and the counts.
fn check_inbox(body: &[u8], rows: usize) -> Result<(), String> {
    let html = std::str::from_utf8(body).map_err(|_| "the inbox is not UTF-8".to_owned())?;
    let found = html
        .matches("<tr><th scope=\"row\"><a href=\"/inbox/leads/")
        .count();
    if found != rows {
        return Err(format!("the inbox shows {found} leads, not {rows}"));
    }
    if !html.contains("<caption>Leads per status</caption>") {
        return Err("the inbox has no counts per status".into());
    }
    Ok(())
}

/// A lead page must be exactly `expected` (references, in order), with a next page
/// or without as `more` says.
fn check_leads(body: &[u8], expected: &[String], more: bool) -> Result<(), String> {
    let page: LeadPage = parse(body)?;
    let got: Vec<&str> = page
        .items
        .iter()
        .map(|item| item.lead_reference.as_str())
        .collect();
    if got != expected {
        return Err(format!(
            "{} leads, not the {} seeded ones{}",
            got.len(),
            expected.len(),
            if got.len() == expected.len() {
                " (others, or in another order)"
            } else {
                ""
            }
        ));
    }
    if page.next_cursor.is_some() != more {
        return Err(if more {
            "no next page".into()
        } else {
            "a next page after the last match".into()
        });
    }
    Ok(())
}

/// A contact page must be exactly `expected` (`(email, leads)`, in order), and tell
/// its next page; returns the cursor.
fn check_contacts(body: &[u8], expected: &[(String, u64)]) -> Result<Option<String>, String> {
    let page: ContactPage = parse(body)?;
    let matches = page.items.len() == expected.len()
        && page
            .items
            .iter()
            .zip(expected)
            .all(|(item, (email, leads))| {
                item.email.as_deref() == Some(email) && item.lead_count == *leads
            });
    if !matches {
        return Err(format!(
            "{} contacts, not the {} expected (email and lead count, in order)",
            page.items.len(),
            expected.len()
        ));
    }
    Ok(page.next_cursor)
}

/// The stats must count every seeded lead, by entity type as seeded.
fn check_stats(body: &[u8], total: u64, by_entity: &[u64]) -> Result<(), String> {
    let stats: StatsBody = parse(body)?;
    if stats.total != total {
        return Err(format!("total {}, not {total}", stats.total));
    }
    for ((entity, _), expected) in ENTITY_TYPES.iter().zip(by_entity) {
        let got = stats
            .by_entity_type
            .iter()
            .find(|count| count.entity_type.as_deref() == Some(entity))
            .map_or(0, |count| count.count);
        if got != *expected {
            return Err(format!("{entity}: {got} leads, not {expected}"));
        }
    }
    Ok(())
}

/// Measures every probe on the running `server`, then exports everything twice.
pub async fn measure(
    server: &Server,
    database: Database,
    setting: &Setting,
) -> Result<(Vec<Read>, Vec<Export>), BenchError> {
    let address = server.address;
    let seeded = database.seeded;
    let mut reads = Vec::new();
    let list = format!("/api/v1/leads?limit={PAGE}&entityType=…");
    reads.extend(
        probe(server, database, setting, LIST, &list, |id| ListReader {
            random: Random::new(1000 + id as u64),
            asked: (0, true),
            cursor: None,
        })
        .await,
    );
    for fixed in fixed_probes(address, seeded).await? {
        reads.extend(
            probe(server, database, setting, &fixed.name, &fixed.label, |_| {
                Repeat {
                    path: fixed.path.clone(),
                    check: fixed.check.clone(),
                }
            })
            .await,
        );
    }
    let mut exports = Vec::new();
    for format in ["ndjson", "csv"] {
        exports.push(export(server, database, format, setting.export_limit).await?);
    }
    Ok((reads, exports))
}

/// A probe that repeats one request.
struct Fixed {
    name: String,
    /// The request as the results show it.
    label: String,
    path: String,
    check: Check,
}

impl Fixed {
    fn new(name: &str, path: String, check: Check) -> Fixed {
        Fixed {
            name: name.to_owned(),
            label: path.clone(),
            path,
            check,
        }
    }
}

/// The probes that repeat one request, with what each answer must hold.
async fn fixed_probes(address: SocketAddr, seeded: Seeded) -> Result<Vec<Fixed>, BenchError> {
    let rare = Arc::new(seeded.named(RARE_TERM, PAGE));
    let common = Arc::new(seeded.named(COMMON_TERM, PAGE));
    let first = Arc::new(seeded.contacts(0, PAGE));
    let by_entity = seeded.by_entity_type();
    let total = seeded.total;
    let contacts = format!("/api/v1/contacts?limit={PAGE}");
    let mut probes = vec![
        Fixed::new(
            "search, rare term",
            format!("/api/v1/leads?limit={PAGE}&q={RARE_TERM}"),
            Arc::new(move |body| check_leads(body, &rare, false)),
        ),
        Fixed::new(
            "search, common term",
            format!("/api/v1/leads?limit={PAGE}&q={COMMON_TERM}"),
            Arc::new(move |body| check_leads(body, &common, true)),
        ),
        Fixed::new(
            "contacts, first page",
            contacts.clone(),
            Arc::new(move |body| check_contacts(body, &first).map(|_| ())),
        ),
    ];
    let pages = seeded.contact_count().div_ceil(PAGE);
    let deep = DEEP_PAGE.min(pages);
    if deep > 1 {
        let (path, expected) = deep_contacts(address, seeded, deep).await?;
        probes.push(Fixed {
            name: format!("contacts, page {deep}"),
            label: format!("{contacts}&cursor=<page {}'s nextCursor>", deep - 1),
            path,
            check: Arc::new(move |body| check_contacts(body, &expected).map(|_| ())),
        });
    }
    probes.push(Fixed::new(
        "stats",
        "/api/v1/stats".into(),
        Arc::new(move |body| check_stats(body, total, &by_entity)),
    ));
    // The web console's inbox (issue #20: p95 ≤ 30 ms over a million leads): the first
    // page of 50 as HTML, with the counts per status, signed in as an agent.
    crate::load::sign_in_console(address, CONSOLE_USER, CONSOLE_PASSWORD)
        .await
        .map_err(BenchError::new)?;
    let rows = (total as usize).min(PAGE);
    probes.push(Fixed::new(
        INBOX,
        "/inbox".into(),
        Arc::new(move |body| check_inbox(body, rows)),
    ));
    Ok(probes)
}

/// Follows the contacts' `nextCursor` to page `page` (checking every page on the
/// way); returns the request for that page and what it must hold.
async fn deep_contacts(
    address: SocketAddr,
    seeded: Seeded,
    page: usize,
) -> Result<(String, Vec<(String, u64)>), BenchError> {
    let first = format!("/api/v1/contacts?limit={PAGE}");
    let mut path = first.clone();
    for number in 0..page - 1 {
        let body = load::get_once(address, &path)
            .await
            .map_err(BenchError::new)?;
        let expected = seeded.contacts(number * PAGE, PAGE);
        let next = check_contacts(&body, &expected)
            .map_err(|e| BenchError::new(format!("contacts page {}: {e}", number + 1)))?
            .ok_or_else(|| {
                BenchError::new(format!("contacts page {}: no next page", number + 1))
            })?;
        path = format!("{first}&cursor={}", percent_encode(&next));
    }
    Ok((path, seeded.contacts((page - 1) * PAGE, PAGE)))
}

/// One probe at the first connection count, then at the others when it is cheap.
async fn probe<R: Reader>(
    server: &Server,
    database: Database,
    setting: &Setting,
    name: &str,
    path: &str,
    reader: impl Fn(usize) -> R,
) -> Vec<Read> {
    let mut reads: Vec<Read> = Vec::new();
    for &connections in &setting.connections {
        if reads.iter().any(|read| read.latency.p99_ms > CHEAP_P99_MS) {
            break;
        }
        let budget = Budget {
            window: Window::after_warmup(setting.warmup, setting.duration),
            min_samples: setting.min_samples,
        };
        let (report, (server_cores, bench_cores, other_cores)) = measuring_cpu(
            server.pid(),
            load::read(server.address, connections, budget, &reader),
        )
        .await;
        let read = Read {
            backend: database.backend,
            probe: name.to_owned(),
            request: format!("GET {path}"),
            leads_in_database: database.seeded.total,
            seed_seconds: database.seed_seconds,
            connections,
            seconds: report.seconds,
            requests_per_s: stats::per_second(
                report.requests,
                Duration::from_secs_f64(report.seconds),
            ),
            checked: report.checked,
            latency: Latency::of(&report.latency),
            errors: report.tally.error_count(),
            error_kinds: report.tally.errors,
            server_cpu_cores: server_cores,
            bench_cpu_cores: bench_cores,
            other_cpu_cores: other_cores,
        };
        eprintln!("{}", crate::report::read_line(&read));
        reads.push(read);
    }
    reads
}

/// `GET /api/v1/leads/export?format=…` of everything, with the server's resident set
/// before and at its peak during the transfer, and the body checked: one line per
/// lead (and a header for CSV), newest first, oldest last.
async fn export(
    server: &Server,
    database: Database,
    format: &'static str,
    limit: Duration,
) -> Result<Export, BenchError> {
    let path = format!("/api/v1/leads/export?format={format}");
    let rss_before_mb = server.rss_mb();
    let peak_reset = server.reset_peak_rss();
    let (report, (server_cores, bench_cores, other_cores)) =
        measuring_cpu(server.pid(), load::export(server.address, &path, limit)).await;
    let report = report.map_err(|e| BenchError::new(format!("GET {path}: {e}")))?;
    let rss_peak_mb = server.peak_rss_mb();
    let seconds = report.took.as_secs_f64();
    let leads = database.seeded.total;
    let received = report.lines.saturating_sub(u64::from(format == "csv"));
    let export = Export {
        backend: database.backend,
        format,
        leads_in_database: leads,
        bytes: report.bytes,
        lines: report.lines,
        seconds,
        first_byte_ms: report.first_byte.as_secs_f64() * 1000.0,
        leads_per_s: received as f64 / seconds.max(1e-9),
        mb_per_s: report.bytes as f64 / 1e6 / seconds.max(1e-9),
        rss_before_mb,
        rss_peak_mb,
        peak_reset,
        server_cpu_cores: server_cores,
        bench_cpu_cores: bench_cores,
        other_cpu_cores: other_cores,
        problem: check_export(&report, format, database.seeded).err(),
    };
    eprintln!("{}", crate::report::export_line(&export));
    Ok(export)
}

/// Runs `work`; tells the CPU cores used meanwhile by the server, by this benchmark
/// and by the other processes (zeros when `/proc` could not be read).
async fn measuring_cpu<T>(server: u32, work: impl Future<Output = T>) -> (T, (f64, f64, f64)) {
    let started = Instant::now();
    let before = CpuSample::take(server);
    let out = work.await;
    let cores = match (before, CpuSample::take(server)) {
        (Some(before), Some(after)) => before.cores_until(&after, started.elapsed().as_secs_f64()),
        _ => (0.0, 0.0, 0.0),
    };
    (out, cores)
}

/// An export of everything: `200`, a line per lead (plus the header for CSV), the
/// newest lead first and the oldest last.
fn check_export(report: &load::ExportReport, format: &str, seeded: Seeded) -> Result<(), String> {
    if report.status != 200 {
        return Err(format!("status {}", report.status));
    }
    let csv = format == "csv";
    let expected_lines = seeded.total + u64::from(csv);
    if !report.complete {
        return Err(format!(
            "stopped unfinished after {:.0} s, at {} of {} lines",
            report.took.as_secs_f64(),
            thousands(report.lines),
            thousands(expected_lines)
        ));
    }
    if report.lines != expected_lines {
        return Err(format!(
            "{} lines, not {expected_lines}",
            thousands(report.lines)
        ));
    }
    let (newest, oldest) = seeded.newest_and_oldest();
    let reference = |line: &str| -> Option<String> {
        if csv {
            line.split(',').next().map(str::to_owned)
        } else {
            serde_json::from_str::<LeadItem>(line)
                .ok()
                .map(|item| item.lead_reference)
        }
    };
    let first = report.first_lines.get(usize::from(csv)).map(String::as_str);
    if csv
        && !report
            .first_lines
            .first()
            .is_some_and(|header| header.starts_with("leadReference,receivedAt,"))
    {
        return Err("no CSV header".into());
    }
    if first.and_then(reference).as_deref() != Some(newest.as_str()) {
        return Err(format!("the first lead is not the newest, {newest}"));
    }
    if reference(&report.last_line).as_deref() != Some(oldest.as_str()) {
        return Err(format!("the last lead is not the oldest, {oldest}"));
    }
    Ok(())
}

fn thousands(n: u64) -> String {
    crate::format::thousands(n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> Seeded {
        Seeded { total: 2_000 }
    }

    #[test]
    fn lead_pages_must_be_exactly_the_seeded_leads() {
        let expected = seeded().named(RARE_TERM, PAGE);
        let items: Vec<String> = expected
            .iter()
            .map(|r| format!(r#"{{"leadReference":"{r}","other":1}}"#))
            .collect();
        let body = format!(r#"{{"items":[{}]}}"#, items.join(","));
        assert_eq!(check_leads(body.as_bytes(), &expected, false), Ok(()));
        assert!(check_leads(body.as_bytes(), &expected, true).is_err());
        let short = format!(r#"{{"items":[{}]}}"#, items[1..].join(","));
        assert!(check_leads(short.as_bytes(), &expected, false).is_err());
        assert!(check_leads(b"not json", &expected, false).is_err());
    }

    #[test]
    fn contact_pages_must_match_email_and_count() {
        let expected = seeded().contacts(0, 3);
        let item = |(email, leads): &(String, u64)| {
            format!(r#"{{"id":"x","email":"{email}","leadCount":{leads}}}"#)
        };
        let items: Vec<String> = expected.iter().map(item).collect();
        let body = format!(r#"{{"items":[{}],"nextCursor":"c"}}"#, items.join(","));
        assert_eq!(
            check_contacts(body.as_bytes(), &expected),
            Ok(Some("c".into()))
        );
        let mut wrong = expected.clone();
        wrong[1].1 += 1;
        assert!(check_contacts(body.as_bytes(), &wrong).is_err());
    }

    #[test]
    fn stats_must_count_every_lead_by_type() {
        let seeded = seeded();
        let counts = seeded.by_entity_type();
        let types: Vec<String> = ENTITY_TYPES
            .iter()
            .zip(counts)
            .map(|((entity, _), n)| format!(r#"{{"entityType":"{entity}","count":{n}}}"#))
            .collect();
        let body = format!(
            r#"{{"total":{},"byDay":[],"byEntityType":[{}],"byStatus":[]}}"#,
            seeded.total,
            types.join(",")
        );
        assert_eq!(check_stats(body.as_bytes(), seeded.total, &counts), Ok(()));
        assert!(check_stats(body.as_bytes(), seeded.total + 1, &counts).is_err());
    }

    #[test]
    fn exports_must_hold_every_lead_newest_first() {
        let seeded = seeded();
        let (newest, oldest) = seeded.newest_and_oldest();
        let ndjson = load::ExportReport {
            status: 200,
            complete: true,
            lines: seeded.total,
            first_lines: vec![format!(r#"{{"leadReference":"{newest}"}}"#)],
            last_line: format!(r#"{{"leadReference":"{oldest}"}}"#),
            ..load::ExportReport::default()
        };
        assert_eq!(check_export(&ndjson, "ndjson", seeded), Ok(()));
        let short = load::ExportReport {
            lines: seeded.total - 1,
            ..ndjson.clone()
        };
        assert!(check_export(&short, "ndjson", seeded).is_err());
        let unfinished = load::ExportReport {
            complete: false,
            ..ndjson.clone()
        };
        assert!(check_export(&unfinished, "ndjson", seeded).is_err());
        let csv = load::ExportReport {
            status: 200,
            complete: true,
            lines: seeded.total + 1,
            first_lines: vec![
                "leadReference,receivedAt,createdDate\r".into(),
                format!("{newest},2026-01-01\r"),
            ],
            last_line: format!("{oldest},2025-12-31\r"),
            ..load::ExportReport::default()
        };
        assert_eq!(check_export(&csv, "csv", seeded), Ok(()));
        assert!(check_export(&csv, "ndjson", seeded).is_err());
    }
}
