-- One pgbench transaction: a batch of :batch new leads in one INSERT ... ON CONFLICT
-- DO NOTHING RETURNING, their events, one commit; the shape of the server's batch
-- (crates/storage-seaorm/src/repository.rs, store_batch) in plain SQL. :random_senders
-- is 1 for a new sender (email, phone, contact) per lead, 0 for the benchmark's one
-- sender. Run by bench/sql-floor/run.sh.
BEGIN;
SELECT tombstone FROM erased_leads WHERE tombstone = md5(random()::text);
WITH created AS (
    INSERT INTO leads (lead_reference, entity_type, entity_public_id, entity_reference,
        source, created_date, created_at_us, message, sender_name, sender_email,
        sender_email_normalised, sender_phone, sender_phone_e164, number_residents,
        has_pets, move_timeline, monthly_income, presentation_letter, anomalies,
        anomaly_count, raw_payload, received_at_us, status, version, sort_created_us,
        search_text, contact_id)
    SELECT 'CY-Listing-A3bT7Y2xL6w-' || gen_random_uuid(), 'Listing', 'A3bT7Y2xL6w',
        'REF-1', 'CasaYes', '2026-11-29T10:00:00.1234567Z', now_us, message,
        'Maria Smith', email, email, phone, '+351' || phone, 2, true, 'Soon', 2000,
        repeat('Sou enfermeira. ', 20), '[]', 0,
        convert_to(repeat('{"LeadReference":"CY-Listing"} ', 40), 'UTF8'), now_us + g,
        'new', 1, now_us, lower(message || ' maria smith ' || email), md5(email)
    FROM generate_series(1, :batch) AS g,
        LATERAL (SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint AS now_us,
            repeat('Olá, gostaria de visitar o apartamento. ', 5) AS message,
            CASE WHEN :random_senders = 1 THEN md5(random()::text || g) || '@example.pt'
                ELSE 'maria.smith@example.pt' END AS email,
            CASE WHEN :random_senders = 1 THEN (910000000 + floor(random() * 9999999))::text
                ELSE '912345678' END AS phone) AS v
    ON CONFLICT (lead_reference) DO NOTHING
    RETURNING id, received_at_us
)
INSERT INTO lead_events (lead_id, kind, at_us)
SELECT id, 'created', received_at_us FROM created;
COMMIT;
