-- A restarted node finds the calls and messages a crash left unfinished by their status
-- without reading every call it ever ran.
CREATE INDEX resources_by_status ON resources (kind, status, seq);
