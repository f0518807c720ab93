-- Several nodes share this database, and each keeps a read cache of rows by SID. Every committed
-- update or delete of a row notifies channel `switchboard_rows` with the row's SID, in the same
-- transaction as the write (so only a committed write is ever announced, in commit order, and
-- every writer is covered, whatever statement it runs). Each node listens and drops the SIDs it
-- is told about (src/postgres/listener.rs).
--
-- Inserts are not announced: the SID is unique, so a row can only be inserted under a SID that
-- had no row, and any copy a node cached of an earlier row with that SID was dropped by the
-- notification of the delete that removed it, which committed first. Leaving them out spares
-- the most frequent writes (calls, messages, alerts) the global lock PostgreSQL takes to queue
-- a notification at commit.
CREATE FUNCTION switchboard_notify_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_rows', OLD.sid);
    IF TG_OP = 'UPDATE' AND NEW.sid <> OLD.sid THEN
        PERFORM pg_notify('switchboard_rows', NEW.sid);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER resources_notify_row AFTER UPDATE OR DELETE ON resources
    FOR EACH ROW EXECUTE FUNCTION switchboard_notify_row();
