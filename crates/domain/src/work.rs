//! Working a lead: its status in the sales pipeline, who it is assigned to, its tags,
//! and the rules for changing them. Every change is recorded in the lead's history.

use std::{collections::BTreeSet, fmt};

use chrono::{DateTime, Utc};

/// Where a lead is in the pipeline:
/// `new → contacted → qualified → viewing_scheduled → offer → won | lost`, or set aside
/// as `spam` or `duplicate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum LeadStatus {
    #[default]
    New,
    Contacted,
    Qualified,
    ViewingScheduled,
    Offer,
    Won,
    Lost,
    Spam,
    Duplicate,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 9] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::ViewingScheduled,
        LeadStatus::Offer,
        LeadStatus::Won,
        LeadStatus::Lost,
        LeadStatus::Spam,
        LeadStatus::Duplicate,
    ];

    pub fn code(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::ViewingScheduled => "viewing_scheduled",
            LeadStatus::Offer => "offer",
            LeadStatus::Won => "won",
            LeadStatus::Lost => "lost",
            LeadStatus::Spam => "spam",
            LeadStatus::Duplicate => "duplicate",
        }
    }

    pub fn from_code(code: &str) -> Option<LeadStatus> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    /// Still being worked: `new` to `offer`.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            LeadStatus::New
                | LeadStatus::Contacted
                | LeadStatus::Qualified
                | LeadStatus::ViewingScheduled
                | LeadStatus::Offer
        )
    }

    /// The rule of the pipeline. From an open status a lead moves forward (stages may be
    /// skipped: a first call can qualify a lead) or is closed (`won`, `lost`, `spam`,
    /// `duplicate`); it never moves back while open. A closed lead can only be
    /// reopened, to any open status: a [`Transition::Reopen`], which the history records
    /// as such.
    pub fn transition(self, to: LeadStatus) -> Result<Transition, TransitionError> {
        let refused = || TransitionError { from: self, to };
        if self == to {
            return Err(refused());
        }
        match (self.is_open(), to.is_open()) {
            (true, true) if to > self => Ok(Transition::Forward),
            (true, true) => Err(refused()),
            (true, false) => Ok(Transition::Close),
            (false, true) => Ok(Transition::Reopen),
            (false, false) => Err(refused()),
        }
    }
}

impl fmt::Display for LeadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What kind of move a status change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Forward,
    Close,
    Reopen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a lead cannot go from {from} to {to}{}", hint(*from, *to))]
pub struct TransitionError {
    pub from: LeadStatus,
    pub to: LeadStatus,
}

fn hint(from: LeadStatus, to: LeadStatus) -> &'static str {
    match (from.is_open(), to.is_open()) {
        _ if from == to => " (it is there already)",
        (true, true) => " (an open lead only moves forward)",
        (false, false) => " (reopen it first)",
        _ => "",
    }
}

/// The longest assignee id and tag, in characters.
pub const MAX_ASSIGNEE_CHARS: usize = 128;
pub const MAX_TAG_CHARS: usize = 64;
/// The most tags on one lead.
pub const MAX_TAGS: usize = 32;
/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 10_000;

/// Why a change to a lead's work is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("assignee must be 1 to {MAX_ASSIGNEE_CHARS} characters without control characters")]
    Assignee,
    #[error(
        "a tag must be 1 to {MAX_TAG_CHARS} characters of letters, digits, `-`, `_`, `:` or `.`, and a lead has at most {MAX_TAGS}"
    )]
    Tag,
    #[error("a note must be 1 to {MAX_NOTE_CHARS} characters")]
    Note,
    #[error("the change changes nothing")]
    Empty,
}

/// A tag: trimmed and lower-cased, so that `VIP` and `vip` are one tag.
pub fn normalise_tag(tag: &str) -> Result<String, WorkError> {
    let tag = tag.trim().to_lowercase();
    let allowed = |c: char| c.is_alphanumeric() || "-_:.".contains(c);
    if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS || !tag.chars().all(allowed) {
        return Err(WorkError::Tag);
    }
    Ok(tag)
}

/// How a lead is being worked. `version` counts the changes: the optimistic-concurrency
/// token (a write names the version it read; a stale one is refused).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeadWork {
    pub status: LeadStatus,
    pub assignee: Option<String>,
    pub tags: BTreeSet<String>,
    pub version: i64,
    /// When the status first changed from `new`: the end of "speed to lead".
    pub first_response_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl LeadWork {
    /// A lead just received: `new`, nobody's, no tags, version 1.
    pub fn received() -> Self {
        LeadWork {
            version: 1,
            ..LeadWork::default()
        }
    }
}

/// A change a CRM asks for. `None` leaves a field as it is; `assignee: Some(None)`
/// unassigns; `tags` replaces the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkChange {
    pub status: Option<LeadStatus>,
    pub assignee: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub note: Option<String>,
}

/// What the history records of one field's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// `status`, `assignee`, `tags` or `note`.
    pub field: &'static str,
    /// The value before, as text (tags: comma-separated); `None` when there was none.
    pub before: Option<String>,
    pub after: Option<String>,
    /// For `status`: the move was a reopening.
    pub reopened: bool,
}

impl FieldChange {
    /// This change as the history entry `id`, made at `at` by `actor`.
    pub fn entry(&self, id: i64, at: DateTime<Utc>, actor: &str) -> HistoryEntry {
        HistoryEntry {
            id,
            at,
            actor: actor.to_owned(),
            field: self.field.to_owned(),
            before: self.before.clone(),
            after: self.after.clone(),
            reopened: self.reopened,
        }
    }
}

/// An accepted change: the work after it, and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub work: LeadWork,
    pub changes: Vec<FieldChange>,
    /// The note to append, checked.
    pub note: Option<String>,
}

fn tags_text(tags: &BTreeSet<String>) -> Option<String> {
    (!tags.is_empty()).then(|| tags.iter().cloned().collect::<Vec<_>>().join(","))
}

impl LeadWork {
    /// Applies `change` at `at` by the rules: a status change must be a valid
    /// transition (the status the lead has already is no change), values are checked
    /// and normalised, and a change that changes nothing is refused. The version goes
    /// up by one.
    pub fn apply(&self, change: WorkChange, at: DateTime<Utc>) -> Result<Applied, WorkError> {
        let mut work = self.clone();
        let mut changes = Vec::new();
        // The status the lead has already is no change, as for the other fields: a
        // client that sends the whole state it wants is not refused for the part that
        // holds already (and a change of nothing else is `Empty`, not a bad move).
        if let Some(to) = change.status.filter(|to| *to != self.status) {
            let transition = self.status.transition(to)?;
            changes.push(FieldChange {
                field: "status",
                before: Some(self.status.code().to_owned()),
                after: Some(to.code().to_owned()),
                reopened: transition == Transition::Reopen,
            });
            work.status = to;
            if work.first_response_at.is_none() {
                work.first_response_at = Some(at);
            }
        }
        if let Some(assignee) = change.assignee {
            let assignee = assignee
                .map(|id| {
                    let id = id.trim().to_owned();
                    let valid = !id.is_empty()
                        && id.chars().count() <= MAX_ASSIGNEE_CHARS
                        && !id.chars().any(char::is_control);
                    valid.then_some(id).ok_or(WorkError::Assignee)
                })
                .transpose()?;
            if assignee != self.assignee {
                changes.push(FieldChange {
                    field: "assignee",
                    before: self.assignee.clone(),
                    after: assignee.clone(),
                    reopened: false,
                });
                work.assignee = assignee;
            }
        }
        if let Some(tags) = change.tags {
            let tags = tags
                .iter()
                .map(|tag| normalise_tag(tag))
                .collect::<Result<BTreeSet<_>, _>>()?;
            if tags.len() > MAX_TAGS {
                return Err(WorkError::Tag);
            }
            if tags != self.tags {
                changes.push(FieldChange {
                    field: "tags",
                    before: tags_text(&self.tags),
                    after: tags_text(&tags),
                    reopened: false,
                });
                work.tags = tags;
            }
        }
        let note = change
            .note
            .map(|text| {
                let valid = !text.trim().is_empty() && text.chars().count() <= MAX_NOTE_CHARS;
                valid.then_some(text).ok_or(WorkError::Note)
            })
            .transpose()?;
        if let Some(text) = &note {
            changes.push(FieldChange {
                field: "note",
                before: None,
                after: Some(text.clone()),
                reopened: false,
            });
        }
        if changes.is_empty() {
            return Err(WorkError::Empty);
        }
        work.version = self.version + 1;
        work.updated_at = Some(at);
        Ok(Applied {
            work,
            changes,
            note,
        })
    }
}

/// A note on a lead: append-only.
#[derive(Clone, PartialEq, Eq)]
pub struct Note {
    pub id: i64,
    /// Who wrote it: the agent id given, or the API key's name.
    pub author: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// Notes are written about people: `Debug` leaves the text out.
impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Note")
            .field("id", &self.id)
            .field("author", &self.author)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// One change in a lead's history.
#[derive(Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who: the API key's name.
    pub actor: String,
    /// `status`, `assignee`, `tags` or `note`.
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reopened: bool,
}

/// Values may be note text: `Debug` leaves them out.
impl fmt::Debug for HistoryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryEntry")
            .field("id", &self.id)
            .field("at", &self.at)
            .field("actor", &self.actor)
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

/// What a live-feed event says happened to a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeadEventKind {
    /// A new lead was stored.
    Created,
    /// It was changed through the API.
    Updated,
}

impl LeadEventKind {
    pub fn code(self) -> &'static str {
        match self {
            LeadEventKind::Created => "created",
            LeadEventKind::Updated => "updated",
        }
    }

    pub fn from_code(code: &str) -> Option<LeadEventKind> {
        [LeadEventKind::Created, LeadEventKind::Updated]
            .into_iter()
            .find(|kind| kind.code() == code)
    }
}

/// One event of the live feed: ids increase in the order events were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadEvent {
    pub id: i64,
    pub lead_id: crate::LeadId,
    pub kind: LeadEventKind,
    pub at: DateTime<Utc>,
}

/// Tags as stored in one text column: comma-joined (tags cannot hold a comma).
pub fn tags_to_text(tags: &BTreeSet<String>) -> Option<String> {
    tags_text(tags)
}

/// The inverse of [`tags_to_text`].
pub fn tags_from_text(text: Option<&str>) -> BTreeSet<String> {
    text.map(|text| {
        text.split(',')
            .filter(|tag| !tag.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("valid")
    }

    #[test]
    fn the_pipeline_moves_forward_closes_and_reopens() {
        use LeadStatus::*;
        assert_eq!(New.transition(Contacted), Ok(Transition::Forward));
        assert_eq!(
            New.transition(Qualified),
            Ok(Transition::Forward),
            "stages may be skipped"
        );
        assert_eq!(Offer.transition(Won), Ok(Transition::Close));
        assert_eq!(New.transition(Spam), Ok(Transition::Close));
        assert_eq!(Lost.transition(Contacted), Ok(Transition::Reopen));
        assert!(
            Qualified.transition(Contacted).is_err(),
            "no going back while open"
        );
        assert!(Won.transition(Lost).is_err(), "reopen first");
        assert!(New.transition(New).is_err());
        let refused = Won.transition(Lost).expect_err("refused");
        assert_eq!(
            refused.to_string(),
            "a lead cannot go from won to lost (reopen it first)"
        );
        for status in LeadStatus::ALL {
            assert_eq!(LeadStatus::from_code(status.code()), Some(status));
        }
    }

    #[test]
    fn a_change_records_what_it_changed_and_bumps_the_version() {
        let work = LeadWork::received();
        let applied = work
            .apply(
                WorkChange {
                    status: Some(LeadStatus::Contacted),
                    assignee: Some(Some(" agent-7 ".into())),
                    tags: Some(vec!["VIP".into(), "vip".into(), "t2".into()]),
                    note: Some("Called, will visit Friday".into()),
                },
                at(60),
            )
            .expect("valid");
        assert_eq!(applied.work.status, LeadStatus::Contacted);
        assert_eq!(applied.work.assignee.as_deref(), Some("agent-7"));
        assert_eq!(
            applied
                .work
                .tags
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["t2", "vip"]
        );
        assert_eq!(applied.work.version, 2);
        assert_eq!(applied.work.first_response_at, Some(at(60)));
        let fields: Vec<_> = applied.changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, ["status", "assignee", "tags", "note"]);
        assert_eq!(applied.changes[0].before.as_deref(), Some("new"));
        assert_eq!(applied.changes[2].after.as_deref(), Some("t2,vip"));

        let closed = applied
            .work
            .apply(
                WorkChange {
                    status: Some(LeadStatus::Lost),
                    ..WorkChange::default()
                },
                at(120),
            )
            .expect("close");
        let reopened = closed
            .work
            .apply(
                WorkChange {
                    status: Some(LeadStatus::Qualified),
                    ..WorkChange::default()
                },
                at(180),
            )
            .expect("reopen");
        assert!(reopened.changes[0].reopened);
        assert_eq!(
            reopened.work.first_response_at,
            Some(at(60)),
            "the first one stays"
        );
        assert_eq!(reopened.work.version, 4);
    }

    #[test]
    fn bad_or_empty_changes_are_refused() {
        let work = LeadWork::received();
        let change = |change: WorkChange| work.apply(change, at(1));
        assert_eq!(change(WorkChange::default()), Err(WorkError::Empty));
        assert_eq!(
            change(WorkChange {
                assignee: Some(None),
                ..WorkChange::default()
            }),
            Err(WorkError::Empty),
            "unassigning nobody changes nothing"
        );
        assert_eq!(
            change(WorkChange {
                status: Some(LeadStatus::New),
                ..WorkChange::default()
            }),
            Err(WorkError::Empty),
            "the status it has already changes nothing"
        );
        let tagged = change(WorkChange {
            status: Some(LeadStatus::New),
            tags: Some(vec!["vip".into()]),
            ..WorkChange::default()
        })
        .expect("the tags change");
        let fields: Vec<_> = tagged.changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, ["tags"], "the status is not recorded as changed");
        assert_eq!(
            change(WorkChange {
                tags: Some(vec!["no spaces".into()]),
                ..WorkChange::default()
            }),
            Err(WorkError::Tag)
        );
        assert_eq!(
            change(WorkChange {
                note: Some("  ".into()),
                ..WorkChange::default()
            }),
            Err(WorkError::Note)
        );
        let qualified = change(WorkChange {
            status: Some(LeadStatus::Qualified),
            ..WorkChange::default()
        })
        .expect("forward")
        .work;
        assert!(matches!(
            qualified.apply(
                WorkChange {
                    status: Some(LeadStatus::Contacted),
                    ..WorkChange::default()
                },
                at(2)
            ),
            Err(WorkError::Transition(_))
        ));
    }
}
