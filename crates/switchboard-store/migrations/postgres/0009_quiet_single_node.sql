-- A `--single-node` engine has the database to itself (an advisory lock enforces it), so nobody
-- listens for its row notifications. Its connections set `switchboard.announce = off`, and the
-- trigger's WHEN condition then keeps the row's event from being queued at all: no trigger call,
-- no notification, no global notify lock at commit. Every other writer (cluster nodes, tools)
-- leaves the setting unset and announces as before.
DROP TRIGGER resources_notify_row ON resources;
CREATE TRIGGER resources_notify_row AFTER UPDATE OR DELETE ON resources
    FOR EACH ROW
    WHEN (current_setting('switchboard.announce', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION switchboard_notify_row();
