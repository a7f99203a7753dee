-- The application role must not be able to move a chain's head where it
-- likes: with UPDATE on audit_heads it could point a head back and hide the
-- events after it from VerifyAudit. Instead a head is derived from the
-- events themselves: inserting an event advances its stream's head, and
-- only an event that continues the chain (seq = head + 1, prev_hash = head
-- hash) may be inserted at all. The application keeps INSERT and SELECT on
-- audit_events and SELECT on audit_heads, nothing more (see roles.go).
--
-- Why a trigger rather than a SECURITY DEFINER "append" function the
-- application calls: the trigger holds whoever inserts — the application,
-- a script, a future code path — to the same rule, and the application
-- keeps its one-statement insert of events and notifications.
--
-- The trigger function runs with its owner's rights (SECURITY DEFINER): the
-- application may not write audit_heads itself. Its search_path is pinned
-- to this schema with pg_temp last, so that no temporary table of the
-- caller can stand in for audit_heads.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION audit_events_advance_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    head_seq  bigint;
    head_hash text;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_heads WHERE stream = NEW.stream FOR UPDATE;
    IF NOT FOUND THEN
        head_seq := 0;
        head_hash := '';
    END IF;
    IF NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash THEN
        RAISE EXCEPTION 'audit stream %: event % (prev_hash %) does not continue the chain, whose head is seq % (hash %)',
            NEW.stream, NEW.seq, NEW.prev_hash, head_seq, head_hash
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'events are appended through postgres.AppendAudit, one after the other';
    END IF;
    INSERT INTO audit_heads (stream, seq, hash) VALUES (NEW.stream, NEW.seq, NEW.hash)
    ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION audit_events_advance_head() SET search_path = %I, pg_temp', current_schema());
END;
$$;
-- +goose StatementEnd

REVOKE ALL ON FUNCTION audit_events_advance_head() FROM PUBLIC;

CREATE TRIGGER audit_events_advance_head
    BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_advance_head();

-- +goose Down
DROP TRIGGER audit_events_advance_head ON audit_events;
DROP FUNCTION audit_events_advance_head();
