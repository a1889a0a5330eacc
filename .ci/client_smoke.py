"""Drives a live Lead Inbox with a client generated from openapi/lead-inbox.yaml by a
standard third-party generator (openapi-python-client), without hand edits: if the
document and the server disagree, this fails. Run by .ci/client.sh."""

import os
import uuid

from lead_inbox_client import AuthenticatedClient
from lead_inbox_client.api.contacts import get_contact, get_stats, list_contacts
from lead_inbox_client.api.leads import (
    get_lead,
    get_lead_history,
    get_lead_notes,
    list_leads,
    update_lead,
)
from lead_inbox_client.api.forwarding import (
    create_destination,
    delete_destination,
    get_destination,
    list_deliveries,
)
from lead_inbox_client.api.webhook import receive_casa_yes_lead
from lead_inbox_client.models import (
    ApiError,
    CasaYesLeadPayload,
    DeliveryStatus,
    DeliveryStatusView,
    DestinationCreate,
    DestinationView,
    DestinationWithSecret,
    EventView,
    ForwardFormatView,
    LeadPatch,
    LeadStatusView,
    LeadView,
)

base = os.environ["LEAD_INBOX_URL"]
webhook = AuthenticatedClient(
    base_url=base, token=os.environ["WEBHOOK_TOKEN"], prefix="", auth_header_name="token"
)
api = AuthenticatedClient(base_url=base, token=os.environ["API_KEY"])

reference = f"CY-Listing-A3bT7Y2xL6w-{uuid.uuid4()}"
payload = CasaYesLeadPayload(
    lead_reference=reference,
    entity_type="Listing",
    entity_public_id="A3bT7Y2xL6w",
    sender_name="João Gonçalves",
    sender_email="joao.goncalves@example.pt",
    sender_phone="919111222",
    message="Gostaria de visitar o apartamento.",
)

answer = receive_casa_yes_lead.sync_detailed(client=webhook, body=payload)
assert answer.status_code == 200, answer
assert answer.parsed.status == DeliveryStatus.CREATED, answer.parsed
again = receive_casa_yes_lead.sync_detailed(client=webhook, body=payload)
assert again.parsed.status == DeliveryStatus.DUPLICATE, again.parsed

lead = get_lead.sync(reference, client=api)
assert isinstance(lead, LeadView), lead
assert lead.sender.name == "João Gonçalves", lead.sender
assert lead.sender.phone_e164 == "+351919111222", lead.sender
assert lead.status == LeadStatusView.NEW and lead.version == 1, lead

page = list_leads.sync(client=api, q="joao goncalves")
assert [item.lead_reference for item in page.items] == [reference], page

changed = update_lead.sync_detailed(
    reference,
    client=api,
    body=LeadPatch(status=LeadStatusView.CONTACTED, note="Ligou de volta", version=1),
)
assert changed.status_code == 200, changed
assert changed.parsed.status == LeadStatusView.CONTACTED and changed.parsed.version == 2
assert changed.headers["etag"] == '"2"', changed.headers

stale = update_lead.sync_detailed(
    reference, client=api, body=LeadPatch(assignee="agent-1"), if_match='"1"'
)
assert stale.status_code == 412, stale
assert isinstance(stale.parsed, ApiError) and stale.parsed.code == "precondition_failed"

history = get_lead_history.sync(reference, client=api)
assert [entry.field for entry in history.items] == ["status", "note"], history
notes = get_lead_notes.sync(reference, client=api)
assert [note.text for note in notes.items] == ["Ligou de volta"], notes

contacts = list_contacts.sync(client=api)
contact = next(c for c in contacts.items if c.email == "joao.goncalves@example.pt")
detail = get_contact.sync(contact.id, client=api)
assert [l.lead_reference for l in detail.leads] == [reference], detail

stats = get_stats.sync(client=api)
assert stats.total >= 1 and stats.speed_to_lead.responded >= 1, stats
# Forwarding: a destination (its secret shown once), then the deliveries to it.
made = create_destination.sync_detailed(
    client=api,
    body=DestinationCreate(
        url="https://crm.example.invalid/hooks/lead-inbox",
        events=[EventView.LEAD_CREATED, EventView.LEAD_UPDATED],
        format_=ForwardFormatView.LEAD,
        description="generated client",
    ),
)
assert made.status_code == 201, made
assert isinstance(made.parsed, DestinationWithSecret), made
assert made.parsed.secret.startswith("whsec_"), "a Standard Webhooks secret"
destination = made.parsed.destination
assert destination.url == "https://crm.example.invalid/hooks/lead-inbox", destination
assert destination.max_in_flight == 8 and destination.enabled, destination
read = get_destination.sync(destination.id, client=api)
assert isinstance(read, DestinationView) and read.id == destination.id, read
assert "secret" not in read.to_dict(), "the secret is never shown again"
refused = create_destination.sync_detailed(
    client=api, body=DestinationCreate(url="http://crm.example.com/hook")
)
assert refused.status_code == 400, refused
assert refused.parsed.code == "https_required", refused.parsed
deliveries = list_deliveries.sync(
    client=api, destination=destination.id, status=DeliveryStatusView.PENDING, limit=10
)
assert all(
    d.destination_id == destination.id and d.status == DeliveryStatusView.PENDING
    for d in deliveries.items
), deliveries
removed = delete_destination.sync_detailed(destination.id, client=api)
assert removed.status_code == 204, removed
print(
    f"generated client: {reference} delivered, read, changed, found; "
    f"destination {destination.id} created and removed; ok"
)
