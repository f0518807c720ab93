-- Inbound calls and messages find their number by its E.164 text.
CREATE INDEX resources_by_number ON resources (kind, phone_number);
