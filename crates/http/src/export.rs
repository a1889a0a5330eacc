//! Exporting leads as CSV or NDJSON, streamed page by page in constant memory.

use futures_util::{Stream, stream};
use lead_inbox_application::{
    LeadCursor, LeadFilter, LeadQueries, PageRequest, pagination::MAX_PAGE_SIZE,
};
use lead_inbox_domain::{Lead, SenderEmail, SenderPhone, format_timestamp, format_utc};
use poem_openapi::{ResponseContent, payload::Binary, types::ToJSON};

use crate::views::LeadView;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated, RFC 4180, UTF-8, one header line; safe to open in a spreadsheet.
    Csv,
    /// One lead per line, each the JSON of `GET /api/v1/leads/{leadReference}`.
    Ndjson,
}

#[derive(ResponseContent)]
pub enum ExportContent {
    #[oai(content_type = "text/csv; charset=utf-8")]
    Csv(Binary<poem::Body>),
    #[oai(content_type = "application/x-ndjson")]
    Ndjson(Binary<poem::Body>),
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 24] = [
    "leadReference",
    "receivedAt",
    "createdDate",
    "entityType",
    "entityPublicId",
    "entityReference",
    "source",
    "status",
    "assignee",
    "tags",
    "senderName",
    "senderEmail",
    "senderEmailNormalised",
    "senderPhone",
    "senderPhoneE164",
    "message",
    "numberResidents",
    "hasPets",
    "moveTimeline",
    "moveDate",
    "monthlyIncome",
    "presentationLetter",
    "anomalies",
    "contactId",
];

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or
/// carriage return first) gets a `'` in front, so that it is shown as text, never run
/// (OWASP's advice against CSV injection). Everything else is as stored.
fn neutralise(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn csv_record(lead: &Lead) -> Vec<String> {
    let details = &lead.details;
    let sender = &details.sender;
    let profile = &details.profile;
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    let number = |value: Option<String>| value.unwrap_or_default();
    let anomalies: Vec<String> = details
        .anomalies
        .iter()
        .map(|anomaly| format!("{}:{}", anomaly.field().wire_name(), anomaly.kind().code()))
        .collect();
    [
        details.reference.as_str().to_owned(),
        format_utc(&lead.received_at),
        number(details.created_date.as_ref().map(format_timestamp)),
        text(details.entity_type.as_ref().map(|t| t.as_str())),
        text(details.entity_public_id.as_deref()),
        text(details.entity_reference.as_deref()),
        text(details.source.as_deref()),
        lead.work.status.code().to_owned(),
        text(lead.work.assignee.as_deref()),
        lead.work.tags.iter().cloned().collect::<Vec<_>>().join(","),
        text(sender.name.as_deref()),
        text(sender.email.as_ref().map(SenderEmail::given)),
        text(sender.email.as_ref().and_then(SenderEmail::normalised)),
        text(sender.phone.as_ref().map(SenderPhone::given)),
        text(sender.phone.as_ref().and_then(SenderPhone::e164)),
        text(details.message.as_ref().map(|m| m.as_str())),
        number(profile.number_residents.map(|n| n.to_string())),
        number(profile.has_pets.map(|b| b.to_string())),
        text(profile.move_timeline.as_ref().map(|t| t.kind_code())),
        number(
            profile
                .move_timeline
                .as_ref()
                .and_then(|t| t.date())
                .as_ref()
                .map(format_timestamp),
        ),
        number(profile.monthly_income.map(|n| n.to_string())),
        text(profile.presentation_letter.as_deref()),
        anomalies.join(" "),
        number(details.contact_id()),
    ]
    .into_iter()
    .map(neutralise)
    .collect()
}

/// One CSV line (quoted as RFC 4180 needs), ending in CRLF.
fn csv_line<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(cells: I) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(cells);
    writer.into_inner().unwrap_or_default()
}

fn encode(format: ExportFormat, leads: Vec<Lead>) -> Vec<u8> {
    let mut out = Vec::new();
    for lead in leads {
        match format {
            ExportFormat::Csv => out.extend(csv_line(csv_record(&lead))),
            ExportFormat::Ndjson => {
                let json = LeadView::from(lead).to_json().unwrap_or_default();
                out.extend(serde_json::to_vec(&json).unwrap_or_default());
                out.push(b'\n');
            }
        }
    }
    out
}

/// The export as a stream of chunks, one page of leads each: memory stays bounded by a
/// page whatever the number of leads. A storage failure midway ends the stream with an
/// error, which aborts the response (the client sees a truncated transfer, never a
/// short file that looks complete).
pub fn export_stream(
    queries: LeadQueries,
    filter: LeadFilter,
    format: ExportFormat,
) -> impl Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    let header = match format {
        ExportFormat::Csv => Some(csv_line(CSV_COLUMNS)),
        ExportFormat::Ndjson => None,
    };
    enum State {
        Header(Vec<u8>),
        Page(Option<LeadCursor>),
        Done,
    }
    let first = match header {
        Some(header) => State::Header(header),
        None => State::Page(None),
    };
    stream::unfold(
        (first, queries, filter),
        move |(state, queries, filter)| async move {
            match state {
                State::Header(header) => Some((Ok(header), (State::Page(None), queries, filter))),
                State::Page(after) => {
                    let request = PageRequest::new(Some(MAX_PAGE_SIZE), after)
                        .unwrap_or_else(|_| unreachable!("the largest page is a valid size"));
                    match queries.leads(&filter, request).await {
                        Ok(page) => {
                            let next = match page.next {
                                Some(cursor) => State::Page(Some(cursor)),
                                None => State::Done,
                            };
                            Some((Ok(encode(format, page.items)), (next, queries, filter)))
                        }
                        Err(error) => {
                            tracing::error!(error = %error, "an export stopped: storage failed");
                            Some((
                                Err(std::io::Error::other("the export stopped: storage failed")),
                                (State::Done, queries, filter),
                            ))
                        }
                    }
                }
                State::Done => None,
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_text_is_kept() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+351919111222".into()), "'+351919111222");
        assert_eq!(neutralise("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(neutralise("-2+3".into()), "'-2+3");
        assert_eq!(neutralise("João".into()), "João");
        assert_eq!(neutralise(String::new()), "");
    }

    #[test]
    fn csv_lines_are_quoted_as_rfc_4180_says() {
        let line = csv_line(["a", "b,c", "say \"hi\"", "two\nlines"]);
        assert_eq!(
            String::from_utf8(line).expect("UTF-8"),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
        );
    }
}
