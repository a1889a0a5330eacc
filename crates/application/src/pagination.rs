//! Cursor pagination.

use chrono::{DateTime, Utc};
use lead_inbox_domain::LeadId;

/// The default number of items in a page.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and {MAX_PAGE_SIZE}")]
pub struct PageSizeError;

/// A page to read: at most `limit` items after the cursor (exclusive), in the list's
/// order. No cursor: the first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<C> {
    limit: u32,
    after: Option<C>,
}

impl<C> PageRequest<C> {
    /// `limit` defaults to [`DEFAULT_PAGE_SIZE`] and must be 1 to [`MAX_PAGE_SIZE`].
    pub fn new(limit: Option<u32>, after: Option<C>) -> Result<Self, PageSizeError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(PageSizeError);
        }
        Ok(PageRequest { limit, after })
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn after(&self) -> Option<&C> {
        self.after.as_ref()
    }
}

/// A page of items and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// Builds a page from up to `limit + 1` items read in order: when there is one
    /// more than the limit, there is a next page, which starts after the last item
    /// kept. Adapters read one extra row so that the last page has no cursor.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> C) -> Self {
        let limit = limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor_of)
        } else {
            None
        };
        Page { items, next }
    }
}

/// Where a page of leads, listed newest first, stops: leads are ordered by the sort
/// key (`at`: the receipt time, or the creation time for [`LeadSort::Created`]) then
/// `id`, both descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadCursor {
    pub at: DateTime<Utc>,
    pub id: LeadId,
}

/// The order of a lead list, newest first by one of two instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeadSort {
    /// When Lead Inbox received the lead (the default).
    #[default]
    Received,
    /// When CasaYes created it; a lead without a `CreatedDate` sorts by its receipt.
    Created,
}

impl LeadSort {
    /// The instant `lead` sorts by.
    pub fn key(self, lead: &lead_inbox_domain::Lead) -> DateTime<Utc> {
        match self {
            LeadSort::Received => lead.received_at,
            LeadSort::Created => lead
                .details
                .created_date
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or(lead.received_at),
        }
    }

    /// The cursor after `lead` in this order.
    pub fn cursor(self, lead: &lead_inbox_domain::Lead) -> LeadCursor {
        LeadCursor {
            at: self.key(lead),
            id: lead.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(
            PageRequest::<u8>::new(None, None).map(|p| p.limit()),
            Ok(DEFAULT_PAGE_SIZE)
        );
        assert_eq!(
            PageRequest::<u8>::new(Some(500), None).map(|p| p.limit()),
            Ok(500)
        );
        assert_eq!(PageRequest::<u8>::new(Some(0), None), Err(PageSizeError));
        assert_eq!(PageRequest::<u8>::new(Some(501), None), Err(PageSizeError));
    }

    #[test]
    fn overfetching_tells_whether_there_is_a_next_page() {
        let page = Page::from_overfetch(vec![5, 4, 3], 2, |n| *n);
        assert_eq!(
            page,
            Page {
                items: vec![5, 4],
                next: Some(4)
            }
        );
        let last = Page::from_overfetch(vec![5, 4], 2, |n| *n);
        assert_eq!(
            last,
            Page {
                items: vec![5, 4],
                next: None
            }
        );
    }
}

/// Which leads a list shows. Every field narrows it; the default shows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadFilter {
    /// The entity type, in its documented spelling or as CasaYes sent an unknown one.
    pub entity_type: Option<String>,
    pub entity_public_id: Option<String>,
    pub entity_reference: Option<String>,
    /// Received at or after.
    pub received_from: Option<DateTime<Utc>>,
    /// Received before.
    pub received_to: Option<DateTime<Utc>>,
    /// Created at CasaYes at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created at CasaYes before.
    pub created_to: Option<DateTime<Utc>>,
    /// Only leads with (or without) anomalies.
    pub has_anomalies: Option<bool>,
    pub status: Option<lead_inbox_domain::LeadStatus>,
    /// Only leads assigned to this agent id.
    pub assignee: Option<String>,
    /// Only leads with this tag (normalised: trimmed, lower-cased).
    pub tag: Option<String>,
    /// Only leads of this contact.
    pub contact_id: Option<String>,
    /// Free text, folded ([`lead_inbox_domain::search::fold`]): only leads whose sender
    /// name, email, phone or message contain it, whatever the case and accents.
    pub search: Option<String>,
    pub sort: LeadSort,
}

impl LeadFilter {
    /// Whether `lead` passes: the rule every adapter implements (the in-memory one with
    /// this very function).
    pub fn matches(&self, lead: &lead_inbox_domain::Lead) -> bool {
        let details = &lead.details;
        let created = details.created_date.map(|d| d.with_timezone(&Utc));
        let same = |wanted: &Option<String>, actual: Option<&str>| {
            wanted.as_deref().is_none_or(|w| actual == Some(w))
        };
        same(
            &self.entity_type,
            details.entity_type.as_ref().map(|t| t.as_str()),
        ) && same(&self.entity_public_id, details.entity_public_id.as_deref())
            && same(&self.entity_reference, details.entity_reference.as_deref())
            && self
                .received_from
                .is_none_or(|from| lead.received_at >= from)
            && self.received_to.is_none_or(|to| lead.received_at < to)
            && self
                .created_from
                .is_none_or(|from| created.is_some_and(|c| c >= from))
            && self
                .created_to
                .is_none_or(|to| created.is_some_and(|c| c < to))
            && self
                .has_anomalies
                .is_none_or(|has| has != details.anomalies.is_empty())
            && self.status.is_none_or(|status| lead.work.status == status)
            && same(&self.assignee, lead.work.assignee.as_deref())
            && self
                .tag
                .as_ref()
                .is_none_or(|tag| lead.work.tags.contains(tag))
            && same(&self.contact_id, details.contact_id().as_deref())
            && self
                .search
                .as_ref()
                .is_none_or(|term| details.search_text().contains(term.as_str()))
    }
}
