-- A delivery's origin (scheme://host:port): when a retried delivery gets through, the others
-- waiting for the same origin are made due at once (the origin is up for all of them).
ALTER TABLE deliveries ADD COLUMN origin TEXT;
CREATE INDEX deliveries_pending_by_origin ON deliveries (origin) WHERE status = 'pending';
